import { resolve } from 'node:path';
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
  /** How long after a join the same join token and agent-made credential get the same answer again (a lost answer). */
  joinRetryMs: number;
  /**
   * A Unix socket the controller also serves its HTTP app on (join and the agent websocket
   * included), for agents in other network namespaces of this machine; undefined = none.
   */
  agentSocket: string | undefined;
  /** Extra plugins to load besides the built-in ones: npm package names or absolute module paths. */
  plugins: string[];
  /** PEM files of the certificate (chain) and key to serve HTTPS and WSS with; both or neither. */
  tlsCert: string | undefined;
  tlsKey: string | undefined;
  /** Serve plain HTTP on an address other machines reach (refused otherwise). */
  allowInsecureHttp: boolean;
  /** What the operator should hear about the configuration (logged at start). */
  warnings: string[];
}

const FLAGS: Record<string, keyof ControllerConfig> = {
  '--data-dir': 'dataDir',
  '--database': 'database',
  '--host': 'listenHost',
  '--port': 'port',
  '--body-limit': 'bodyLimit',
  '--query-timeout-ms': 'queryTimeoutMs',
  '--max-subscriptions': 'maxSubscriptions',
  '--host-grace-ms': 'hostGraceMs',
  '--join-retry-ms': 'joinRetryMs',
  '--agent-socket': 'agentSocket',
  '--plugins': 'plugins',
  '--tls-cert': 'tlsCert',
  '--tls-key': 'tlsKey',
  '--allow-insecure-http': 'allowInsecureHttp',
};

/** Flags that take no value. */
const SWITCHES = new Set<keyof ControllerConfig>(['allowInsecureHttp']);

const ENV: Record<string, keyof ControllerConfig> = {
  NETLOOM_DATA_DIR: 'dataDir',
  NETLOOM_DATABASE: 'database',
  NETLOOM_HOST: 'listenHost',
  NETLOOM_PORT: 'port',
  NETLOOM_BODY_LIMIT: 'bodyLimit',
  NETLOOM_MAX_QUERY_DEPTH: 'maxQueryDepth',
  NETLOOM_MAX_QUERY_COST: 'maxQueryCost',
  NETLOOM_QUERY_TIMEOUT_MS: 'queryTimeoutMs',
  NETLOOM_MAX_SUBSCRIPTIONS: 'maxSubscriptions',
  NETLOOM_WAIT_TIMEOUT_MS: 'waitTimeoutMs',
  NETLOOM_HOST_GRACE_MS: 'hostGraceMs',
  NETLOOM_JOIN_RETRY_MS: 'joinRetryMs',
  NETLOOM_AGENT_SOCKET: 'agentSocket',
  NETLOOM_PLUGINS: 'plugins',
  NETLOOM_TLS_CERT: 'tlsCert',
  NETLOOM_TLS_KEY: 'tlsKey',
  NETLOOM_ALLOW_INSECURE_HTTP: 'allowInsecureHttp',
};

const NUMERIC = new Set<keyof ControllerConfig>([
  'port',
  'bodyLimit',
  'maxQueryDepth',
  'maxQueryCost',
  'queryTimeoutMs',
  'maxSubscriptions',
  'waitTimeoutMs',
  'hostGraceMs',
  'joinRetryMs',
]);

/** Configuration from flags (`--port 8080`), then environment (`NETLOOM_PORT`), then defaults. */
export function loadConfig(argv: string[] = process.argv.slice(2), env: NodeJS.ProcessEnv = process.env): ControllerConfig {
  const given: Partial<Record<keyof ControllerConfig, string>> = {};
  for (const [name, key] of Object.entries(ENV)) {
    if (env[name] !== undefined && env[name] !== '') given[key] = env[name];
  }
  const fromFlags = new Set<keyof ControllerConfig>();
  for (let i = 0; i < argv.length; i++) {
    const at = argv[i].indexOf('=');
    const [flag, inline] = at < 0 ? [argv[i], undefined] : [argv[i].slice(0, at), argv[i].slice(at + 1)];
    const key = FLAGS[flag];
    if (!key) throw badInput(`unknown option ${flag}; known: ${Object.keys(FLAGS).join(', ')}`);
    const value = inline ?? (SWITCHES.has(key) ? 'true' : argv[++i]);
    if (value === undefined) throw badInput(`${flag} needs a value`);
    given[key] = value;
    fromFlags.add(key);
  }
  const number = (key: keyof ControllerConfig, fallback: number): number => {
    const text = given[key];
    if (text === undefined) return fallback;
    const value = Number(text);
    if (!Number.isInteger(value) || value < 0) throw badInput(`${key} must be a whole number, got ${text}`);
    return value;
  };
  for (const key of Object.keys(given) as (keyof ControllerConfig)[]) {
    if (NUMERIC.has(key)) number(key, 0);
  }
  const dataDir = resolve(given.dataDir ?? 'data');
  const listenHost = given.listenHost ?? '127.0.0.1';
  const [tlsCert, tlsKey] = [given.tlsCert, given.tlsKey].map((path) => (path ? resolve(path) : undefined));
  if (Boolean(tlsCert) !== Boolean(tlsKey)) throw badInput('--tls-cert and --tls-key go together: give both or neither');
  const allowInsecureHttp = ['true', '1'].includes(given.allowInsecureHttp ?? '');
  if (!tlsCert && !allowInsecureHttp && !isLoopbackHost(listenHost)) {
    throw badInput(
      `refusing to serve plain HTTP on ${listenHost}, which other machines reach: tokens and host credentials would cross the network in clear; ` +
        'give --tls-cert and --tls-key, or pass --allow-insecure-http',
    );
  }
  const database = databaseConfig(given.database, dataDir);
  const warnings: string[] = [];
  if (database.kind === 'postgres' && fromFlags.has('database') && describeDatabase(database) !== database.url) {
    warnings.push('--database holds a password, which ps shows to every user of this machine: give the URL in NETLOOM_DATABASE, or the password in PGPASSWORD or ~/.pgpass');
  }
  return {
    dataDir,
    database,
    listenHost,
    port: number('port', 8080),
    bodyLimit: number('bodyLimit', 2 * 1024 * 1024),
    maxQueryDepth: number('maxQueryDepth', 12),
    maxQueryCost: number('maxQueryCost', 50_000),
    queryTimeoutMs: number('queryTimeoutMs', 10_000),
    maxSubscriptions: number('maxSubscriptions', 20),
    waitTimeoutMs: number('waitTimeoutMs', 30_000),
    hostGraceMs: number('hostGraceMs', 60_000),
    joinRetryMs: number('joinRetryMs', 600_000),
    agentSocket: given.agentSocket === undefined ? undefined : socketPath(given.agentSocket),
    plugins: (given.plugins ?? '')
      .split(',')
      .map((name) => name.trim())
      .filter(Boolean),
    tlsCert,
    tlsKey,
    allowInsecureHttp,
    warnings,
  };
}

// sun_path holds 108 bytes, the terminating NUL included.
const MAX_SOCKET_PATH = 107;

function socketPath(text: string): string {
  if (text === '') throw badInput('agent socket path is empty');
  const path = resolve(text);
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH) throw badInput(`agent socket path ${path} is longer than ${MAX_SOCKET_PATH} bytes`);
  return path;
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
