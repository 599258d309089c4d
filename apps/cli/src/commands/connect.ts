import type { Command } from 'commander';
import { ApiClient } from '../api/client';
import { existsSync } from 'node:fs';
import { configPath, readConfig, resolveTarget, tooOpen } from '../config/contexts';

/** The client of the context `--context` names (or the current one), NETLOOM_URL / NETLOOM_TOKEN over it. */
export function connect(command: Command): ApiClient {
  const { context } = command.optsWithGlobals<{ context?: string }>();
  const path = configPath();
  // It holds tokens: say so when others may read it (login writes it 0600).
  if (existsSync(path) && tooOpen(path)) process.stderr.write(`warning: ${path} is readable by others; chmod 600 it\n`);
  return new ApiClient(resolveTarget(readConfig(path), context, process.env));
}

export const print = (text: string): void => {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
};
