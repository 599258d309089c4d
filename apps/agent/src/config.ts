import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { checkPrefix } from './naming';
import { parseListenAddress } from './observability';
import { controllerTransport } from './transport';

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
  name: string;
  /** npm packages of third-party plugins to load, besides the built-in ones (`--plugins a,b`). */
  plugins: string[];
  /** PEM certificates (read from `--ca FILE`) an https controller is verified against; else the system's CAs. */
  ca: string | undefined;
  /** Allow plain http to a controller that is not on this machine (`--allow-insecure-http`). */
  allowInsecureHttp: boolean;
  /**
   * Remove everything this agent made (as for a host deleted while its agent was away), forget
   * the credential and desired state in the state dir, and exit (`--cleanup`); no controller needed.
   */
  cleanup: boolean;
  /** Where the probes and metrics listen (`--metrics-address HOST:PORT`, checked); off when absent. */
  metricsAddress: string | undefined;
  /** What the operator should know about this configuration, to log at start. */
  warnings: string[];
}

const FLAGS: Record<string, keyof AgentConfig> = {
  '--controller': 'controllers',
  '--join-token': 'joinToken',
  '--join-token-file': 'joinTokenFile',
  '--state-dir': 'stateDir',
  '--prefix': 'prefix',
  '--resync-ms': 'resyncMs',
  '--observe-ms': 'observeMs',
  '--name': 'name',
  '--plugins': 'plugins',
  '--ca': 'ca',
  '--allow-insecure-http': 'allowInsecureHttp',
  '--cleanup': 'cleanup',
  '--metrics-address': 'metricsAddress',
};

/** Flags that take no value. */
const SWITCHES = new Set<keyof AgentConfig>(['allowInsecureHttp', 'cleanup']);
/** Flags that may be given more than once: their values are joined with commas. */
const REPEATABLE = new Set<keyof AgentConfig>(['controllers']);

const ENV: Record<string, keyof AgentConfig> = {
  NETLOOM_CONTROLLER: 'controllers',
  NETLOOM_JOIN_TOKEN: 'joinToken',
  NETLOOM_JOIN_TOKEN_FILE: 'joinTokenFile',
  NETLOOM_STATE_DIR: 'stateDir',
  NETLOOM_PREFIX: 'prefix',
  NETLOOM_RESYNC_MS: 'resyncMs',
  NETLOOM_OBSERVE_MS: 'observeMs',
  NETLOOM_HOST_NAME: 'name',
  NETLOOM_PLUGINS: 'plugins',
  NETLOOM_CA: 'ca',
  NETLOOM_ALLOW_INSECURE_HTTP: 'allowInsecureHttp',
  NETLOOM_METRICS_ADDRESS: 'metricsAddress',
};

/**
 * Configuration from flags (`--controller URL`), then environment (`NETLOOM_CONTROLLER`), then
 * defaults: a flag given replaces the environment's value (all of a repeated flag's values). Everything is checked here, before the agent spends its join token.
 */
export function loadAgentConfig(argv: string[] = process.argv.slice(2), env: NodeJS.ProcessEnv = process.env): AgentConfig {
  const fromEnv: Partial<Record<keyof AgentConfig, string>> = {};
  const fromFlags: Partial<Record<keyof AgentConfig, string>> = {};
  for (const [name, key] of Object.entries(ENV)) if (env[name]) fromEnv[key] = env[name];
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=', 2);
    const key = FLAGS[flag];
    if (!key) throw new Error(`unknown option ${flag}; known: ${Object.keys(FLAGS).join(', ')}`);
    const value = inline ?? (SWITCHES.has(key) ? 'true' : argv[++i]);
    if (value === undefined) throw new Error(`${flag} needs a value`);
    fromFlags[key] = REPEATABLE.has(key) && fromFlags[key] !== undefined ? `${fromFlags[key]},${value}` : value;
  }
  // The join token in one form: a flag's replaces the environment's.
  for (const layer of [fromEnv, fromFlags]) {
    if (layer.joinToken !== undefined && layer.joinTokenFile !== undefined) throw new Error('give the join token once: --join-token-file or --join-token');
  }
  if (fromFlags.joinToken !== undefined || fromFlags.joinTokenFile !== undefined) {
    delete fromEnv.joinToken;
    delete fromEnv.joinTokenFile;
  }
  const given = { ...fromEnv, ...fromFlags };
  const resyncMs = Number(given.resyncMs ?? 30_000);
  if (!Number.isInteger(resyncMs) || resyncMs < 100) throw new Error(`resync-ms must be a whole number ≥ 100`);
  const observeMs = Number(given.observeMs ?? 2_000);
  if (!Number.isInteger(observeMs) || observeMs < 100) throw new Error(`observe-ms must be a whole number ≥ 100`);
  const controllers = controllerList(given.controllers ?? 'http://127.0.0.1:8080');
  const allowInsecureHttp = flagValue('allow-insecure-http', given.allowInsecureHttp);
  const ca = given.ca === undefined ? undefined : readCa(given.ca);
  for (const controller of controllers) controllerTransport(controller, { ca, allowInsecureHttp }); // throws on an address the agent cannot dial
  if (given.metricsAddress !== undefined) parseListenAddress(given.metricsAddress);
  return {
    controllers,
    joinToken: given.joinTokenFile === undefined ? given.joinToken : readJoinToken(given.joinTokenFile),
    joinTokenFile: given.joinTokenFile,
    stateDir: given.stateDir ?? '/var/lib/netloom-agent',
    prefix: checkPrefix(given.prefix ?? 'nl'),
    resyncMs,
    observeMs,
    name: given.name ?? hostname(),
    plugins: (given.plugins ?? '')
      .split(',')
      .map((p) => p.trim())
      .filter((p) => p !== ''),
    ca,
    allowInsecureHttp,
    cleanup: flagValue('cleanup', given.cleanup),
    metricsAddress: given.metricsAddress,
    warnings: fromFlags.joinToken === undefined ? [] : ['--join-token shows the token to everyone who can run ps: prefer --join-token-file or NETLOOM_JOIN_TOKEN'],
  };
}

/** Comma-separated controller addresses, each once, without trailing slashes. */
function controllerList(text: string): string[] {
  const list = text.split(',').map((address) => address.trim().replace(/\/+$/, ''));
  if (list.some((address) => address === '')) throw new Error(`controller: an empty address in ${JSON.stringify(text)}`);
  const twice = list.find((address, i) => list.indexOf(address) !== i);
  if (twice !== undefined) throw new Error(`controller: ${twice} is given twice`);
  return list;
}

function flagValue(name: string, text: string | undefined): boolean {
  if (text === undefined || text === 'false' || text === '0') return false;
  if (text === 'true' || text === '1') return true;
  throw new Error(`${name} is true or false, got ${text}`);
}

function readCa(path: string): string {
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (error) {
    throw new Error(`cannot read the CA file ${path}: ${(error as Error).message}`);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new Error(`the CA file ${path} holds no PEM certificate`);
  return pem;
}

function readJoinToken(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new Error(`cannot read the join token file: ${error instanceof Error ? error.message : String(error)}`);
  }
  const token = text.trim();
  if (!/^\S+$/.test(token)) throw new Error(`the join token file ${path} must hold the token alone`);
  return token;
}
