import { join, resolve } from 'node:path';
import { z } from 'zod';
import { checkedBy, type CliSpec, ConfigError, list, logLevel, type LogLevel, onOff, option, parseOptions, text, wholeNumber } from '@netloom/cli';
import { badInput, isLoopbackHost } from '@netloom/model';

/** The embedded SQLite file (the default), or a PostgreSQL server several controllers may share. */
export type DatabaseConfig = { kind: 'sqlite'; file: string } | { kind: 'postgres'; url: string };

export interface ControllerConfig {
  /** Where the embedded database (and later, other state) lives. */
  dataDir: string;
  /** `--database`: a `postgres://` or `postgresql://` URL, else an SQLite file (default `<dataDir>/netloom.sqlite`). */
  database: DatabaseConfig;
  listenHost: string;
  /** 0 picks a free port; the chosen one is printed. */
  port: number;
  /** Largest accepted request body, in bytes. */
  bodyLimit: number;
  maxQueryDepth: number;
  maxQueryCost: number;
  /** How long a query (or one subscription event) may run before QUERY_TIMEOUT; mutations are not cut. */
  queryTimeoutMs: number;
  /** Live subscriptions per graphql-ws socket; their costs together stay within maxQueryCost. */
  maxSubscriptions: number;
  /** How long a mutation with `wait: true` waits for the hosts before REALIZATION_TIMEOUT. */
  waitTimeoutMs: number;
  /** How long a host's agent may stay away before the other hosts stop peering with it. */
  hostGraceMs: number;
  /** Days audit entries are kept (pruned periodically); 0 keeps them for ever. */
  auditRetentionDays: number;
  /** How long after a join the same join token and agent-made credential get the same answer again (a lost answer). */
  joinRetryMs: number;
  /**
   * A Unix socket the controller also serves its HTTP app on (join and the agent websocket
   * included), for agents in other network namespaces of this machine; undefined = none.
   */
  agentSocket: string | undefined;
  /** Extra plugins to load besides the built-in ones: packages installed in `pluginDir`, or absolute module paths. */
  plugins: string[];
  /** Where an operator `npm install`s plugin packages (`--plugin-dir`; default `<dataDir>/plugins`). */
  pluginDir: string;
  /** PEM files of the certificate (chain) and key to serve HTTPS and WSS with; both or neither. */
  tlsCert: string | undefined;
  tlsKey: string | undefined;
  /** Serve plain HTTP on an address other machines reach (refused otherwise). */
  allowInsecureHttp: boolean;
  logLevel: LogLevel;
  /** What the operator should hear about the configuration (logged at start). */
  warnings: string[];
}

// sun_path holds 108 bytes, the terminating NUL included.
const MAX_SOCKET_PATH = 107;

function socketPath(text: string): string {
  const path = resolve(text);
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH) throw new Error(`agent socket path ${path} is longer than ${MAX_SOCKET_PATH} bytes`);
  return path;
}

const path = () => text().transform((value) => resolve(value));

/** The controller's options: flags, `NETLOOM_*` variables, `--config` keys and `--help` all come from here. */
export const CONTROLLER_OPTIONS = z.object({
  dataDir: option(text().default('data').transform((dir) => resolve(dir)), { description: 'folder of the embedded database', value: 'DIR', defaultText: './data' }),
  database: option(text().optional(), {
    description: 'a postgres:// or postgresql:// URL (PostgreSQL, several controllers may share it), else an SQLite file; a password belongs in the environment, PGPASSWORD or ~/.pgpass, not on the command line',
    value: 'URL|FILE',
    defaultText: 'DIR/netloom.sqlite',
    secret: true,
  }),
  host: option(text().default('127.0.0.1'), { description: 'address to listen on; plain HTTP only on loopback unless TLS or --allow-insecure-http', value: 'ADDRESS' }),
  port: option(wholeNumber().default(8080), { description: 'TCP port; 0 picks a free one (printed in NETLOOM_URL)', value: 'PORT' }),
  bodyLimit: option(wholeNumber().default(2 * 1024 * 1024), { description: 'largest request body, in bytes', value: 'BYTES' }),
  maxQueryDepth: option(wholeNumber().default(12), { description: 'deepest GraphQL query accepted', value: 'N' }),
  maxQueryCost: option(wholeNumber().default(50_000), { description: 'costliest GraphQL operation accepted (also all of one socket’s subscriptions together)', value: 'N' }),
  queryTimeoutMs: option(wholeNumber().default(10_000), { description: 'how long a query runs before QUERY_TIMEOUT', value: 'MS' }),
  maxSubscriptions: option(wholeNumber().default(20), { description: 'live subscriptions per graphql-ws socket', value: 'N' }),
  waitTimeoutMs: option(wholeNumber().default(30_000), { description: 'how long a mutation with wait: true waits for the hosts', value: 'MS' }),
  auditRetentionDays: option(wholeNumber().default(30), { description: 'days audit entries are kept (0: for ever)', value: 'DAYS' }),
  hostGraceMs: option(wholeNumber().default(60_000), { description: 'how long a host’s agent may stay away before the other hosts stop peering with it', value: 'MS' }),
  joinRetryMs: option(wholeNumber().default(600_000), { description: 'how long a join may be asked again with the same token (a lost answer)', value: 'MS' }),
  agentSocket: option(text().transform(checkedBy(socketPath)).optional(), { description: 'a Unix socket also serving the HTTP app, for agents in other network namespaces', value: 'PATH', defaultText: 'none' }),
  plugins: option(list().default([]), { description: 'extra plugins to load: packages installed in the plugin directory, or absolute module paths', value: 'NAMES', defaultText: 'none' }),
  pluginDir: option(text().optional(), { description: 'folder where plugin packages are npm-installed', value: 'DIR', defaultText: '<data-dir>/plugins' }),
  tlsCert: option(path().optional(), { description: 'PEM certificate (chain) to serve HTTPS and WSS with; needs --tls-key', value: 'FILE' }),
  tlsKey: option(path().optional(), { description: 'PEM key of --tls-cert', value: 'FILE' }),
  allowInsecureHttp: option(onOff().default(false), { description: 'serve plain HTTP on an address other machines reach' }),
  logLevel: option(logLevel().default('info'), { description: 'least level logged: trace, debug, info, warn or error', value: 'LEVEL' }),
});

export const CONTROLLER_CLI: CliSpec<typeof CONTROLLER_OPTIONS> = {
  name: 'netloom-controller',
  version: '0.1.0',
  description: 'NetLoom controller: the GraphQL API, the intent store and the agents’ channel.',
  schema: CONTROLLER_OPTIONS,
};

/**
 * Configuration from flags (`--port 8080`), then environment (`NETLOOM_PORT`), then the
 * `--config` file, then defaults. Throws BAD_USER_INPUT naming the option, or CliExit for `--help`.
 */
export function loadConfig(argv: string[] = process.argv.slice(2), env: NodeJS.ProcessEnv = process.env): ControllerConfig {
  try {
    return checked(argv, env);
  } catch (error) {
    throw error instanceof ConfigError ? badInput(error.message) : error;
  }
}

function checked(argv: string[], env: NodeJS.ProcessEnv): ControllerConfig {
  const { values: o, sources } = parseOptions(CONTROLLER_CLI, argv, env);
  if (Boolean(o.tlsCert) !== Boolean(o.tlsKey)) throw new ConfigError('--tls-cert and --tls-key go together: give both or neither');
  if (!o.tlsCert && !o.allowInsecureHttp && !isLoopbackHost(o.host)) {
    throw new ConfigError(
      `refusing to serve plain HTTP on ${o.host}, which other machines reach: tokens and host credentials would cross the network in clear; ` +
        'give --tls-cert and --tls-key, or pass --allow-insecure-http',
    );
  }
  const database = databaseConfig(o.database, o.dataDir);
  const warnings: string[] = [];
  if (database.kind === 'postgres' && sources.database === 'flag' && describeDatabase(database) !== database.url) {
    warnings.push('--database holds a password, which ps shows to every user of this machine: give the URL in NETLOOM_DATABASE, or the password in PGPASSWORD or ~/.pgpass');
  }
  return {
    dataDir: o.dataDir,
    database,
    listenHost: o.host,
    port: o.port,
    bodyLimit: o.bodyLimit,
    maxQueryDepth: o.maxQueryDepth,
    maxQueryCost: o.maxQueryCost,
    queryTimeoutMs: o.queryTimeoutMs,
    maxSubscriptions: o.maxSubscriptions,
    waitTimeoutMs: o.waitTimeoutMs,
    auditRetentionDays: o.auditRetentionDays,
    hostGraceMs: o.hostGraceMs,
    joinRetryMs: o.joinRetryMs,
    agentSocket: o.agentSocket,
    plugins: o.plugins.filter(Boolean),
    pluginDir: resolve(o.pluginDir ?? join(o.dataDir, 'plugins')),
    tlsCert: o.tlsCert,
    tlsKey: o.tlsKey,
    allowInsecureHttp: o.allowInsecureHttp,
    logLevel: o.logLevel,
    warnings,
  };
}

const POSTGRES_URL = /^postgres(ql)?:\/\//i;
// user:password@ in the authority, or a password= parameter (node-postgres reads both).
const URL_PASSWORD = /^(postgres(?:ql)?:\/\/[^@/?#:]*:)[^@/?#]*(@)|([?&]password=)[^&#]*/gi;

function databaseConfig(text: string | undefined, dataDir: string): DatabaseConfig {
  if (text !== undefined && POSTGRES_URL.test(text)) return { kind: 'postgres', url: text };
  return { kind: 'sqlite', file: resolve(text ?? `${dataDir}/netloom.sqlite`) };
}

/** The database as a log line may show it: a PostgreSQL URL without its password. */
export function describeDatabase(database: DatabaseConfig): string {
  if (database.kind === 'sqlite') return database.file;
  return database.url.replace(URL_PASSWORD, (_all, user?: string, at?: string, param?: string) => (param ? `${param}***` : `${user}***${at}`));
}
