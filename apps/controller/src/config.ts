import { resolve } from 'node:path';
import { badInput } from '@netloom/model';

export interface ControllerConfig {
  /** Where the embedded database (and later, other state) lives. */
  dataDir: string;
  /** SQLite file; defaults to `<dataDir>/netloom.sqlite`. */
  databaseFile: string;
  listenHost: string;
  /** 0 picks a free port; the chosen one is printed. */
  port: number;
  /** Largest accepted request body, in bytes. */
  bodyLimit: number;
  maxQueryDepth: number;
  maxQueryCost: number;
  /** How long a mutation with `wait: true` waits for the hosts before REALIZATION_TIMEOUT. */
  waitTimeoutMs: number;
}

const FLAGS: Record<string, keyof ControllerConfig> = {
  '--data-dir': 'dataDir',
  '--database': 'databaseFile',
  '--host': 'listenHost',
  '--port': 'port',
  '--body-limit': 'bodyLimit',
};

const ENV: Record<string, keyof ControllerConfig> = {
  NETLOOM_DATA_DIR: 'dataDir',
  NETLOOM_DATABASE: 'databaseFile',
  NETLOOM_HOST: 'listenHost',
  NETLOOM_PORT: 'port',
  NETLOOM_BODY_LIMIT: 'bodyLimit',
  NETLOOM_MAX_QUERY_DEPTH: 'maxQueryDepth',
  NETLOOM_MAX_QUERY_COST: 'maxQueryCost',
  NETLOOM_WAIT_TIMEOUT_MS: 'waitTimeoutMs',
};

const NUMERIC = new Set<keyof ControllerConfig>(['port', 'bodyLimit', 'maxQueryDepth', 'maxQueryCost', 'waitTimeoutMs']);

/** Configuration from flags (`--port 8080`), then environment (`NETLOOM_PORT`), then defaults. */
export function loadConfig(argv: string[] = process.argv.slice(2), env: NodeJS.ProcessEnv = process.env): ControllerConfig {
  const given: Partial<Record<keyof ControllerConfig, string>> = {};
  for (const [name, key] of Object.entries(ENV)) {
    if (env[name] !== undefined && env[name] !== '') given[key] = env[name];
  }
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=', 2);
    const key = FLAGS[flag];
    if (!key) throw badInput(`unknown option ${flag}; known: ${Object.keys(FLAGS).join(', ')}`);
    const value = inline ?? argv[++i];
    if (value === undefined) throw badInput(`${flag} needs a value`);
    given[key] = value;
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
  return {
    dataDir,
    databaseFile: resolve(given.databaseFile ?? `${dataDir}/netloom.sqlite`),
    listenHost: given.listenHost ?? '127.0.0.1',
    port: number('port', 8080),
    bodyLimit: number('bodyLimit', 2 * 1024 * 1024),
    maxQueryDepth: number('maxQueryDepth', 12),
    maxQueryCost: number('maxQueryCost', 50_000),
    waitTimeoutMs: number('waitTimeoutMs', 30_000),
  };
}
