import { CliExit } from './options';

/**
 * Ends a binary whose start failed: `--help` and `--version` print to stdout and exit 0; a
 * refusal (`expected`: bad configuration, a store that is not ours) is one line on stderr, anything
 * else its stack; exit 1.
 */
export function exitOnStartError(name: string, error: unknown, expected: (error: Error) => boolean): never {
  if (error instanceof CliExit) {
    process.stdout.write(error.output);
    process.exit(error.code);
  }
  const text = error instanceof Error ? (expected(error) ? error.message : (error.stack ?? error.message)) : String(error);
  process.stderr.write(`${name}: ${text}\n`);
  process.exit(1);
}
