// Processes of a simulated-hosts run, found through /proc. Everything this library starts (agents,
// and through them their `ip` children; commands run with exec) carries MARKER=<prefix> in its
// environment, so a later run can find exactly those after a crash, and nothing else.
import type { ChildProcess } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';

export const MARKER = 'NETLOOM_SIMHOSTS';

export interface MarkedProcess {
  pid: number;
  /** The value of `--prefix` on its command line (an agent's Linux-name prefix), if any. */
  agentPrefix?: string;
}

/** The environment for a child of the run with `prefix`: ours minus NETLOOM_* settings, plus the marker. */
export function markedEnv(prefix: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  // The run's own settings stay out, but a trace or a kernel door (`--netlink`) asked for the whole run goes to every process.
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('NETLOOM_') || key === 'NETLOOM_TRACE' || key === 'NETLOOM_NETLINK') env[key] = value;
  env[MARKER] = prefix;
  return env;
}

/** Live processes (zombies excluded) carrying the marker of `prefix`. */
export async function markedProcesses(prefix: string): Promise<MarkedProcess[]> {
  const wanted = `${MARKER}=${prefix}`;
  const found: MarkedProcess[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    // A process may exit between the listing and the read: it is then not ours to worry about.
    const environ = await readFile(`/proc/${pid}/environ`, 'latin1').catch(() => '');
    if (!environ.split('\0').includes(wanted) || !(await alive(pid))) continue;
    const args = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
    const at = args.indexOf('--prefix');
    const inline = args.find((a) => a.startsWith('--prefix='));
    const agentPrefix = at >= 0 ? args[at + 1] : inline?.slice('--prefix='.length);
    found.push(agentPrefix ? { pid, agentPrefix } : { pid });
  }
  return found;
}

/** Whether `pid` runs (a zombie has exited: it only waits for its parent to reap it). */
export async function alive(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  if (!stat) return false;
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state !== 'Z' && state !== 'X';
}

/** Sends `signal` to each pid (already gone is fine). */
export function signal(pids: readonly number[], sig: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, sig);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
  }
}

/** Resolves once none of `pids` runs; throws after `timeoutMs`. */
export async function waitGone(pids: readonly number[], timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left: number[] = [];
    for (const pid of pids) if (await alive(pid)) left.push(pid);
    if (!left.length) return;
    if (Date.now() > deadline) throw new Error(`processes ${left.join(', ')} still run ${timeoutMs} ms after SIGKILL`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Sends `sig` to a child we spawned and waits for its exit; SIGKILL follows after `killAfterMs`. Nothing when it already ended. */
export async function endChild(child: ChildProcess | undefined, sig: NodeJS.Signals, killAfterMs = 5_000): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((done) => child.once('exit', done));
  child.kill(sig);
  const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
  await exited;
  clearTimeout(timer);
}
