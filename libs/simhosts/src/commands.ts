// Commands run from a simulation's process (no shell, an argument array), and polling.
import { execFile } from 'node:child_process';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export const sleep = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms));

/** Runs a command with an argument array (no shell), in `env` when given; never throws on a non-zero exit. */
export function run(file: string, args: string[], timeoutMs = 15_000, env?: NodeJS.ProcessEnv): Promise<ExecResult> {
  return new Promise((done) => {
    execFile(file, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, env }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      done({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** Runs a command inside a namespace: `ip netns exec NS ARGS…`. */
export function netnsExec(ns: string, args: string[], timeoutMs = 15_000): Promise<ExecResult> {
  return run('ip', ['netns', 'exec', ns, ...args], timeoutMs);
}

/** One ICMP echo from namespace `ns` to `ip` (1 s timeout). */
export async function ping(ns: string, ip: string): Promise<boolean> {
  return (await netnsExec(ns, ['ping', '-c1', '-W1', ip])).code === 0;
}

export type Truthy<T> = Exclude<T, false | 0 | '' | null | undefined>;

/**
 * Polls `predicate` until it returns a truthy value (returned) or `timeoutMs` passes (throws,
 * naming the last value or error). A throwing predicate counts as "not yet".
 */
export async function waitFor<T>(predicate: () => T | Promise<T>, timeoutMs: number, intervalMs = 100, what = 'condition'): Promise<Truthy<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await predicate();
      if (value) return value as Truthy<T>;
      last = value;
    } catch (error) {
      last = error instanceof Error ? error.message : error;
    }
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(last)}`);
    await sleep(intervalMs);
  }
}
