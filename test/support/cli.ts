import { execFile, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { waitFor } from '@netloom/simhosts';

/** The built `netloom` CLI. */
export const CLI = resolve(__dirname, '../../dist/apps/cli/src/main.js');

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** The environment of a CLI run: this contexts file, and NETLOOM_URL/TOKEN only when `env` gives them. */
function cliEnv(config: string, env: Record<string, string>): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = { ...process.env, NETLOOM_CONTEXTS: config };
  delete base.NETLOOM_URL;
  delete base.NETLOOM_TOKEN;
  return { ...base, ...env };
}

/** Runs the CLI to its end. */
export function runCli(config: string, args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  return new Promise((done) => {
    execFile(process.execPath, [CLI, ...args], { env: cliEnv(config, env), timeout: 30_000 }, (error, stdout, stderr) =>
      done({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr }),
    );
  });
}

/** `netloom watch …` running: its output so far, and a stop (Ctrl-C) resolving to its exit code. */
export async function startWatch(config: string, args: string[]): Promise<{ stdout: () => string; stop: () => Promise<number | null> }> {
  const child = spawn(process.execPath, [CLI, 'watch', ...args], { env: cliEnv(config, {}), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  const stop = (): Promise<number | null> => {
    child.kill('SIGINT');
    return exited;
  };
  try {
    await waitFor(() => stderr.includes('Watching'), 15_000, 50, `the watch connected (stderr: ${stderr})`);
  } catch (error) {
    await stop();
    throw error;
  }
  return { stdout: () => stdout, stop };
}

/** Calls `make` (which returns a name) until one of the names made shows in `output()`; that name. */
export async function untilShown(make: () => Promise<string>, output: () => string): Promise<string> {
  // The subscription may start just after the socket opened: make until one shows.
  const made: string[] = [];
  await waitFor(
    async () => {
      made.push(await make());
      await new Promise((done) => setTimeout(done, 300));
      return made.some((name) => output().includes(name));
    },
    15_000,
    0,
    'a change in the watch',
  );
  return made.find((name) => output().includes(name))!;
}
