import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { controllerTransport } from './transport';

export interface AgentConfig {
  /**
   * Controller base URL, e.g. http://127.0.0.1:8080 (the agent uses /agent/join and /agent), or
   * `unix:/path/to.sock`: the controller's agent socket (`--agent-socket`).
   */
  controller: string;
  /** The one-time join token from createHost; needed until a credential is stored. */
  joinToken: string | undefined;
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
}

const FLAGS: Record<string, keyof AgentConfig> = {
  '--controller': 'controller',
  '--join-token': 'joinToken',
  '--state-dir': 'stateDir',
  '--prefix': 'prefix',
  '--resync-ms': 'resyncMs',
  '--observe-ms': 'observeMs',
  '--name': 'name',
  '--plugins': 'plugins',
  '--ca': 'ca',
  '--allow-insecure-http': 'allowInsecureHttp',
};

/** Flags that take no value. */
const SWITCHES = new Set<keyof AgentConfig>(['allowInsecureHttp']);

const ENV: Record<string, keyof AgentConfig> = {
  NETLOOM_CONTROLLER: 'controller',
  NETLOOM_JOIN_TOKEN: 'joinToken',
  NETLOOM_STATE_DIR: 'stateDir',
  NETLOOM_PREFIX: 'prefix',
  NETLOOM_RESYNC_MS: 'resyncMs',
  NETLOOM_OBSERVE_MS: 'observeMs',
  NETLOOM_HOST_NAME: 'name',
  NETLOOM_PLUGINS: 'plugins',
  NETLOOM_CA: 'ca',
  NETLOOM_ALLOW_INSECURE_HTTP: 'allowInsecureHttp',
};

/** Configuration from flags (`--controller URL`), then environment (`NETLOOM_CONTROLLER`), then defaults. */
export function loadAgentConfig(argv: string[] = process.argv.slice(2), env: NodeJS.ProcessEnv = process.env): AgentConfig {
  const given: Partial<Record<keyof AgentConfig, string>> = {};
  for (const [name, key] of Object.entries(ENV)) if (env[name]) given[key] = env[name];
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=', 2);
    const key = FLAGS[flag];
    if (!key) throw new Error(`unknown option ${flag}; known: ${Object.keys(FLAGS).join(', ')}`);
    const value = inline ?? (SWITCHES.has(key) ? 'true' : argv[++i]);
    if (value === undefined) throw new Error(`${flag} needs a value`);
    given[key] = value;
  }
  const resyncMs = Number(given.resyncMs ?? 30_000);
  if (!Number.isInteger(resyncMs) || resyncMs < 100) throw new Error(`resync-ms must be a whole number ≥ 100`);
  const observeMs = Number(given.observeMs ?? 2_000);
  if (!Number.isInteger(observeMs) || observeMs < 100) throw new Error(`observe-ms must be a whole number ≥ 100`);
  const controller = (given.controller ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
  const allowInsecureHttp = flagValue('allow-insecure-http', given.allowInsecureHttp);
  const ca = given.ca === undefined ? undefined : readCa(given.ca);
  controllerTransport(controller, { ca, allowInsecureHttp }); // throws on an address the agent cannot dial
  return {
    controller,
    joinToken: given.joinToken,
    stateDir: given.stateDir ?? '/var/lib/netloom-agent',
    prefix: given.prefix ?? 'nl',
    resyncMs,
    observeMs,
    name: given.name ?? hostname(),
    plugins: (given.plugins ?? '')
      .split(',')
      .map((p) => p.trim())
      .filter((p) => p !== ''),
    ca,
    allowInsecureHttp,
  };
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
