import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import { checkedBy, type CliSpec, ConfigError, list, logLevel, type LogLevel, onOff, option, parseOptions, text, wholeNumber } from '@netloom/cli';
import { parseProviderMappings, type ProviderMapping } from '@netloom/model';
import { checkPrefix } from '@netloom/planner';
import { type ListenAddress, parseListenAddress } from './observability';
import { controllerTransport } from './transport';

export const AGENT_VERSION = '0.1.0';

export interface AgentConfig {
  /**
   * Controller addresses, each a base URL, e.g. http://127.0.0.1:8080 (the agent uses /agent/join
   * and /agent), or `unix:/path/to.sock`: the controller's agent socket (`--agent-socket`).
   * Several are replicas of one controller (on one PostgreSQL): the agent is served by one at a
   * time and moves to the next when it goes away. `--controller` repeated or comma-separated,
   * `NETLOOM_CONTROLLER` comma-separated; TLS options apply to all of them.
   */
  controllers: string[];
  /**
   * The one-time join token from createHost; needed until a credential is stored. Read from
   * `--join-token-file PATH` or `NETLOOM_JOIN_TOKEN` so it never shows in `ps`; `--join-token`
   * still works.
   */
  joinToken: string | undefined;
  /** A file holding the join token (`--join-token-file`, `NETLOOM_JOIN_TOKEN_FILE`). */
  joinTokenFile: string | undefined;
  stateDir: string;
  /** Ownership prefix of every Linux name this agent creates (1-4 of [a-z0-9]). */
  prefix: string;
  resyncMs: number;
  /** How often plugins are asked what they observe (health, counters) between passes (`--observe-ms`). */
  observeMs: number;
  /** How often port counters are read (one dump of the host namespace) and sent, while the controller wants them (`--counters-ms`). */
  countersMs: number;
  /** Third-party plugins to load besides the built-in ones (`--plugins a,b`): packages installed in `pluginDir`, or absolute module paths. */
  plugins: string[];
  /** Where an operator `npm install`s plugin packages (`--plugin-dir`; default `<stateDir>/plugins`). */
  pluginDir: string;
  /** Absolute paths of the programs plugins may run as daemons (`--daemon-allow`); none by default. */
  daemonAllow: string[];
  /**
   * Where the agent halves of `--plugins` run (`--plugin-isolation`): `process`, each in a process
   * of its own as `pluginUser`, asking the agent for everything it does on the host; `none`, in
   * the agent (as root). Built-in plugins run in the agent.
   */
  pluginIsolation: 'process' | 'none';
  /** The user sandboxed plugins run as (`--plugin-user`, default `nobody`). */
  pluginUser: string;
  /** How long one call into a plugin (reconcile, observe) may take (`--plugin-timeout-ms`); a sandboxed one is then killed. */
  pluginTimeoutMs: number;
  /** PEM certificates (read from `--ca FILE`) an https controller is verified against; else the system's CAs. */
  ca: string | undefined;
  /** Allow plain http to a controller that is not on this machine (`--allow-insecure-http`). */
  allowInsecureHttp: boolean;
  /**
   * Remove everything this agent made (as for a host deleted while its agent was away), forget
   * the credential and desired state in the state dir, and exit (`--cleanup`); no controller needed.
   */
  cleanup: boolean;
  /**
   * Physical networks this host carries provider networks on, each with its interface
   * (`--provider-mapping physnet1:eth1`, repeated or comma-separated), as Neutron's
   * bridge_mappings: host-local, reported to the controller in the hello.
   */
  providerMappings: ProviderMapping[];
  /** The agent's local HTTP listener (probes, metrics), from `HOST:PORT`; undefined: none. */
  metricsAddress: ListenAddress | undefined;
  logLevel: LogLevel;
  /**
   * How batches of netlink requests reach the kernel (`--netlink`): `auto` through the long-lived
   * netlink helper (Python with pyroute2) where it starts, else `ip -batch`; `on` the helper or no
   * start; `off` always `ip -batch` (one process per batch).
   */
  netlink: 'auto' | 'on' | 'off';
  /** What the operator should know about this configuration, to log at start. */
  warnings: string[];
}

/** Comma-separated controller addresses, each once, without trailing slashes. */
function controllerList(list: string[]): string[] {
  const addresses = list.map((address) => address.replace(/\/+$/, ''));
  if (addresses.some((address) => address === '')) throw new Error(`an empty address in ${JSON.stringify(list.join(','))}`);
  const twice = addresses.find((address, i) => addresses.indexOf(address) !== i);
  if (twice !== undefined) throw new Error(`${twice} is given twice`);
  return addresses;
}

/** The agent's options: flags, `NETLOOM_*` variables, `--config` keys and `--help` all come from here. */
export const AGENT_OPTIONS = z.object({
  controller: option(list().default(['http://127.0.0.1:8080']).transform(checkedBy(controllerList)), {
    description: 'controller address: http(s)://HOST:PORT, or unix:/path/to.sock (its --agent-socket); several are replicas of one controller',
    value: 'URL',
    defaultText: 'http://127.0.0.1:8080',
  }),
  joinToken: option(text().optional(), { description: 'the one-time join token from createHost (ps shows it: prefer --join-token-file or the environment)', value: 'TOKEN', secret: true }),
  joinTokenFile: option(text().optional(), { description: 'a file holding the join token', value: 'FILE' }),
  stateDir: option(text().default('/var/lib/netloom-agent'), { description: 'folder of the credential and the desired state', value: 'DIR' }),
  prefix: option(z.string().default('nl').transform(checkedBy(checkPrefix)), { description: 'first letters of every Linux name this agent creates (1-4 of [a-z0-9], a letter first)', value: 'P', defaultText: 'nl' }),
  resyncMs: option(wholeNumber(100).default(30_000), { description: 'full reconcile pass at least this often', value: 'MS' }),
  observeMs: option(wholeNumber(100).default(2_000), { description: 'how often plugins and port counters are observed between passes', value: 'MS' }),
  countersMs: option(wholeNumber(100).default(5_000), { description: 'how often port counters are read (one dump of every port’s host end) and sent to the controller', value: 'MS' }),
  plugins: option(list().default([]), { description: 'extra plugins to load: packages installed in the plugin directory, or absolute module paths', value: 'NAMES', defaultText: 'none' }),
  pluginDir: option(text().optional(), { description: 'folder where plugin packages are npm-installed', value: 'DIR', defaultText: '<state-dir>/plugins' }),
  pluginIsolation: option(z.enum(['process', 'none'], { error: 'must be process or none' }).default('process'), {
    description: 'where the agent halves of --plugins run: each in a process of its own as --plugin-user (process), or in the agent (none)',
    value: 'process|none',
  }),
  pluginUser: option(text().default('nobody'), { description: 'the user sandboxed plugins run as (no capabilities)', value: 'USER' }),
  pluginTimeoutMs: option(wholeNumber(1000).default(30_000), { description: 'how long one call into a plugin may take (a sandboxed one is then killed and started again)', value: 'MS' }),
  daemonAllow: option(list().default([]).transform(checkedBy(absolutePaths)), {
    description: 'programs plugins may run as daemons (absolute paths, e.g. /usr/sbin/dnsmasq)',
    value: 'PATHS',
    defaultText: 'none',
  }),
  ca: option(text().optional(), { description: 'PEM file of the CA an https controller is verified against', value: 'FILE', defaultText: 'the system’s CAs' }),
  allowInsecureHttp: option(onOff().default(false), { description: 'dial plain http to a controller that is not on this machine' }),
  cleanup: option(onOff().default(false), { description: 'remove everything this agent made, forget its credential, and exit (no controller needed)' }),
  providerMapping: option(list().default([]).transform(checkedBy(parseProviderMappings)), {
    description: 'a physical network and the interface that carries it here, PHYSNET:INTERFACE (e.g. physnet1:eth1); provider networks on PHYSNET use it',
    value: 'PHYSNET:IFACE',
    defaultText: 'none',
  }),
  metricsAddress: option(text().transform(checkedBy(parseListenAddress)).optional(), { description: 'HOST:PORT of a local HTTP listener for probes and metrics (port 0: any free one)', value: 'HOST:PORT', defaultText: 'none (off)' }),
  netlink: option(z.enum(['auto', 'on', 'off'], { error: 'must be auto, on or off' }).default('auto'), {
    description: 'batches in namespaces through the netlink helper (python3-pyroute2; auto: where it starts) or ip -batch (off)',
    value: 'auto|on|off',
  }),
  logLevel: option(logLevel().default('info'), { description: 'least level logged: trace, debug, info, warn or error', value: 'LEVEL' }),
});

export const AGENT_CLI: CliSpec<typeof AGENT_OPTIONS> = {
  name: 'netloom-agent',
  version: AGENT_VERSION,
  description: 'NetLoom agent: joins the controller and turns its host’s desired state into kernel objects.',
  schema: AGENT_OPTIONS,
  alternatives: [['joinToken', 'joinTokenFile']],
};

/**
 * Configuration from flags (`--controller URL`), then environment (`NETLOOM_CONTROLLER`), then the
 * `--config` file, then defaults: a flag given replaces the environment's value (all of a
 * repeated flag's values). Everything is checked here, before the agent spends its join token.
 * Throws ConfigError naming the option, or CliExit for `--help`.
 */
export function loadAgentConfig(argv: string[] = process.argv.slice(2), env: NodeJS.ProcessEnv = process.env): AgentConfig {
  const { values: o, sources } = parseOptions(AGENT_CLI, argv, env);
  const ca = o.ca === undefined ? undefined : readCa(o.ca);
  for (const controller of o.controller) {
    try {
      controllerTransport(controller, { ca, allowInsecureHttp: o.allowInsecureHttp });
    } catch (error) {
      throw new ConfigError(`--controller: ${(error as Error).message}`);
    }
  }
  return {
    controllers: o.controller,
    joinToken: o.joinTokenFile === undefined ? o.joinToken : readJoinToken(o.joinTokenFile),
    joinTokenFile: o.joinTokenFile,
    stateDir: o.stateDir,
    prefix: o.prefix,
    resyncMs: o.resyncMs,
    observeMs: o.observeMs,
    countersMs: o.countersMs,
    plugins: o.plugins.filter(Boolean),
    pluginDir: resolve(o.pluginDir ?? join(o.stateDir, 'plugins')),
    daemonAllow: o.daemonAllow,
    pluginIsolation: o.pluginIsolation,
    pluginUser: o.pluginUser,
    pluginTimeoutMs: o.pluginTimeoutMs,
    ca,
    allowInsecureHttp: o.allowInsecureHttp,
    cleanup: o.cleanup,
    providerMappings: o.providerMapping,
    metricsAddress: o.metricsAddress,
    logLevel: o.logLevel,
    netlink: o.netlink,
    warnings: sources.joinToken === 'flag' ? ['--join-token shows the token to everyone who can run ps: prefer --join-token-file or NETLOOM_JOIN_TOKEN'] : [],
  };
}

function readCa(path: string): string {
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`--ca: cannot read the CA file ${path}: ${(error as Error).message}`);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new ConfigError(`--ca: the CA file ${path} holds no PEM certificate`);
  return pem;
}

function readJoinToken(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`--join-token-file: cannot read the join token file: ${error instanceof Error ? error.message : String(error)}`);
  }
  const token = text.trim();
  if (!/^\S+$/.test(token)) throw new ConfigError(`--join-token-file: the join token file ${path} must hold the token alone`);
  return token;
}

/** `--daemon-allow`: absolute paths of existing programs. */
function absolutePaths(paths: string[]): string[] {
  const out = paths.filter(Boolean);
  for (const path of out) {
    if (!isAbsolute(path)) throw new Error(`${JSON.stringify(path.slice(0, 80))} is not an absolute path`);
    if (!existsSync(path)) throw new Error(`${path} does not exist`);
  }
  return out;
}
