import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { parse, stringify } from 'yaml';
import { z } from 'zod';
import { CliError } from '../errors';

/** One controller and the credential to use with it, as kubectl's contexts. */
const contextSchema = z.object({
  name: z.string().min(1),
  url: z.url(),
  token: z.string().min(1),
  /** A PEM file of the CA that signed the controller's certificate. */
  ca: z.string().min(1).optional(),
});
export type Context = z.infer<typeof contextSchema>;

const configSchema = z.object({
  currentContext: z.string().optional(),
  contexts: z.array(contextSchema).default([]),
});
export type CliConfig = z.infer<typeof configSchema>;

/** `$NETLOOM_CONTEXTS`, else `~/.config/netloom/config.yaml`. */
export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.NETLOOM_CONTEXTS || join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'netloom', 'config.yaml');
}

/** The file's contexts; none when it does not exist. A malformed file is an error naming it. */
export function readConfig(path: string): CliConfig {
  if (!existsSync(path)) return { contexts: [] };
  let raw: unknown;
  try {
    raw = parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new CliError(`${path} is not valid YAML: ${(error as Error).message}`);
  }
  const parsed = configSchema.safeParse(raw ?? {});
  if (!parsed.success) throw new CliError(`${path} is not a netloom config: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/**
 * Writes the file readable by its owner only (0600; its directory 0700 when this creates it),
 * through a temporary file renamed over it, so a crash never leaves half a file.
 */
export function writeConfig(path: string, config: CliConfig): void {
  const dir = dirname(path);
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, stringify(config), { mode: 0o600 });
  chmodSync(temporary, 0o600);
  renameSync(temporary, path);
}

/** Adds or replaces the context of that name and makes it the current one. */
export function withContext(config: CliConfig, context: Context): CliConfig {
  return { currentContext: context.name, contexts: [...config.contexts.filter((c) => c.name !== context.name), context] };
}

export function useContext(config: CliConfig, name: string): CliConfig {
  if (!config.contexts.some((c) => c.name === name)) throw new CliError(`no context named "${name}" (netloom config get-contexts lists them)`);
  return { ...config, currentContext: name };
}

/** Whether group or others may read or write the file. */
export function tooOpen(path: string): boolean {
  return (statSync(path).mode & 0o077) !== 0;
}

/** Where and how to call the API: the context asked for (or the current one), with NETLOOM_URL / NETLOOM_TOKEN over it. */
export interface Target {
  url: string;
  token: string;
  ca?: string;
  context?: string;
}

export function resolveTarget(config: CliConfig, contextName: string | undefined, env: NodeJS.ProcessEnv): Target {
  const name = contextName ?? config.currentContext;
  const context = name === undefined ? undefined : config.contexts.find((c) => c.name === name);
  if (contextName !== undefined && !context) throw new CliError(`no context named "${contextName}" (netloom config get-contexts lists them)`);
  const url = env.NETLOOM_URL || context?.url;
  const token = env.NETLOOM_TOKEN || context?.token;
  if (!url || !token) {
    throw new CliError('no controller to talk to: run `netloom login --url URL --token-file FILE`, or set NETLOOM_URL and NETLOOM_TOKEN');
  }
  return { url, token, ca: context?.ca, context: context?.name };
}
