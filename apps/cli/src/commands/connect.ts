import type { Command } from 'commander';
import { ApiClient } from '../api/client';
import { configPath, readConfig, resolveTarget } from '../config/contexts';

/** The client of the context `--context` names (or the current one), NETLOOM_URL / NETLOOM_TOKEN over it. */
export function connect(command: Command): ApiClient {
  const { context } = command.optsWithGlobals<{ context?: string }>();
  return new ApiClient(resolveTarget(readConfig(configPath()), context, process.env));
}

export const print = (text: string): void => {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
};
