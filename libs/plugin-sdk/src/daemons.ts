import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DaemonSpec, DaemonState } from './host-context';

/** Where {@link Daemons} keeps each daemon's folder, and which programs it may run. */
export interface DaemonOptions {
  /** Absolute paths of the programs the operator allows plugins to run (the agent's `--daemon-allow`). */
  allow: readonly string[];
  /** This plugin's folder of daemon folders (`<dir>/<name>/`: config, files, pid), made on first use. */
  runDir: string;
  log: (line: string) => void;
  /** Called when a daemon exits by itself (the plugin's status should say so). */
  exited: (name: string, how: string) => void;
  /** Backoff of restarts after an exit: first delay, and the cap (ms). */
  backoffMs?: { first: number; max: number };
}

const NAME = /^[a-z][a-z0-9-]{0,31}$/;
const FILE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** A daemon that ran this long before exiting starts again after the first delay, not a longer one. */
const STABLE_MS = 30_000;
const STOP_GRACE_MS = 3_000;

interface Running {
  spec: DaemonSpec;
  /** What makes a restart (netns, program, args, config); files alone make a reload when the spec says how. */
  startKey: string;
  filesKey: string;
  dir: string;
  child?: ChildProcess;
  pid?: number;
  startedAt: number;
  restarts: number;
  failures: number;
  lastExit?: string;
  timer?: NodeJS.Timeout;
  /** Set while it is being ended on purpose: its exit is then no failure. */
  stopping?: boolean;
  /** Last lines it wrote (stdout and stderr), for the reason of an exit. */
  tail: string[];
}

const hash = (value: unknown): string => createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16);

/**
 * The long-lived programs of one plugin on one host (DHCP, DNS, routing daemons), level-triggered:
 * {@link ensure} is given the whole set every pass; each is started in its namespace with its
 * files written, restarted with backoff when it exits, restarted when its command or config
 * changes (or signalled when only its files change and it names a reload signal), and stopped
 * when no longer given. A pid file per daemon lets the next agent end what a killed one left.
 */
export class Daemons {
  private readonly running = new Map<string, Running>();
  private swept = false;

  constructor(private readonly opts: DaemonOptions) {}

  async ensure(specs: readonly DaemonSpec[], ownsNetns: (netns: string) => boolean): Promise<DaemonState[]> {
    const seen = new Set<string>();
    for (const spec of specs) {
      if (!NAME.test(spec.name)) throw new Error(`daemon name ${JSON.stringify(spec.name)} is not 1-32 of [a-z0-9-], a letter first`);
      if (seen.has(spec.name)) throw new Error(`daemon ${spec.name} is given twice`);
      seen.add(spec.name);
      if (!ownsNetns(spec.netns)) throw new Error(`daemon ${spec.name}: namespace ${spec.netns} is not one of this plugin's`);
      if (!this.opts.allow.includes(spec.program)) {
        throw new Error(`daemon ${spec.name}: ${spec.program} is not allowed on this host (the agent's --daemon-allow: ${this.opts.allow.join(', ') || 'none'})`);
      }
      for (const file of Object.keys(spec.files ?? {})) if (!FILE.test(file) || file === 'pid' || file === 'config') throw new Error(`daemon ${spec.name}: file name ${JSON.stringify(file)} is not allowed`);
    }
    if (!this.swept) await this.sweep();
    for (const name of [...this.running.keys()]) if (!seen.has(name)) await this.stop(name);
    for (const spec of specs) {
      const startKey = hash([spec.netns, spec.program, spec.args, spec.config ?? null]);
      const filesKey = hash(spec.files ?? {});
      const current = this.running.get(spec.name);
      if (current && current.startKey === startKey) {
        if (current.filesKey === filesKey) continue;
        current.spec = spec;
        current.filesKey = filesKey;
        this.writeFiles(current.dir, spec);
        if (spec.reloadSignal) {
          this.opts.log(`daemon ${spec.name}: files changed, sent ${spec.reloadSignal}`);
          current.child?.kill(spec.reloadSignal);
        } else {
          this.opts.log(`daemon ${spec.name}: files changed, restarted`);
          await this.terminate(current);
          current.stopping = undefined;
          current.restarts += 1;
          this.launch(current);
        }
        continue;
      }
      // New, or its command or config changed: (stopped, then) started afresh, its folder kept.
      const restarts = current ? current.restarts + 1 : 0;
      if (current) await this.stop(spec.name, false);
      const dir = join(this.opts.runDir, spec.name);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      this.writeFiles(dir, spec);
      const r: Running = { spec, startKey, filesKey, dir, startedAt: 0, restarts, failures: 0, tail: [] };
      this.running.set(spec.name, r);
      this.launch(r);
    }
    return specs.map((s) => this.state(s.name));
  }

  /** The content of a file in a daemon's folder (e.g. a lease file it writes), or null. */
  read(name: string, file: string): string | null {
    if (!NAME.test(name) || !FILE.test(file)) throw new Error(`no file ${JSON.stringify(file)} of daemon ${JSON.stringify(name)}`);
    const path = join(this.opts.runDir, name, file);
    return existsSync(path) ? readFileSync(path, 'utf8') : null;
  }

  /** Stops the daemons living in these namespaces (before the namespaces go). */
  async endIn(netns: readonly string[]): Promise<void> {
    await Promise.all([...this.running.values()].filter((r) => netns.includes(r.spec.netns)).map((r) => this.stop(r.spec.name)));
  }

  async close(): Promise<void> {
    await Promise.all([...this.running.keys()].map((name) => this.stop(name)));
  }

  private state(name: string): DaemonState {
    const r = this.running.get(name)!;
    return { name, running: r.child !== undefined, ...(r.pid !== undefined && r.child ? { pid: r.pid } : {}), restarts: r.restarts, ...(r.lastExit ? { lastExit: r.lastExit } : {}), dir: r.dir };
  }

  private writeFiles(dir: string, spec: DaemonSpec): void {
    if (spec.config !== undefined) writeFileSync(join(dir, 'config'), spec.config, { mode: 0o600 });
    for (const [file, content] of Object.entries(spec.files ?? {})) writeFileSync(join(dir, file), content, { mode: 0o600 });
  }

  private launch(r: Running): void {
    const { spec, dir } = r;
    const args = spec.args.map((a) => a.replaceAll('{config}', join(dir, 'config')).replaceAll('{dir}', dir));
    const child = spawn('ip', ['netns', 'exec', spec.netns, spec.program, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    r.child = child;
    r.pid = child.pid;
    r.startedAt = Date.now();
    r.tail = [];
    if (child.pid !== undefined) writeFileSync(join(dir, 'pid'), JSON.stringify({ pid: child.pid, cmdline: [spec.program, ...args] }));
    const keep = (chunk: Buffer): void => {
      r.tail.push(...chunk.toString().split('\n').filter(Boolean));
      r.tail.splice(0, Math.max(0, r.tail.length - 5));
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    child.on('error', (error) => keep(Buffer.from(error.message)));
    child.once('close', (code, signal) => {
      if (r.child !== child) return;
      r.child = undefined;
      rmSync(join(dir, 'pid'), { force: true });
      if (r.stopping) return;
      const said = r.tail.length ? `: ${r.tail.join(' | ')}` : '';
      r.lastExit = `${signal ? `killed by ${signal}` : `exited with ${code}`}${said}`;
      r.failures = Date.now() - r.startedAt >= STABLE_MS ? 1 : r.failures + 1;
      const { first, max } = this.opts.backoffMs ?? { first: 500, max: 30_000 };
      const delay = Math.min(max, first * 2 ** (r.failures - 1));
      this.opts.log(`daemon ${spec.name} ${r.lastExit}; starting it again in ${delay} ms`);
      this.opts.exited(spec.name, r.lastExit);
      r.timer = setTimeout(() => {
        r.timer = undefined;
        if (this.running.get(spec.name) !== r || r.stopping) return;
        r.restarts += 1;
        this.launch(r);
      }, delay);
    });
    this.opts.log(`daemon ${spec.name} started in ${spec.netns} (pid ${child.pid ?? '?'})`);
  }

  /** Ends a daemon and forgets it; its folder goes too unless it is started again right after. */
  private async stop(name: string, removeDir = true): Promise<void> {
    const r = this.running.get(name);
    if (!r) return;
    await this.terminate(r);
    if (this.running.get(name) === r) this.running.delete(name);
    if (removeDir) rmSync(r.dir, { recursive: true, force: true });
  }

  /** SIGTERM, then SIGKILL after a grace period; resolves once it is gone. */
  private async terminate(r: Running): Promise<void> {
    r.stopping = true;
    if (r.timer) clearTimeout(r.timer);
    r.timer = undefined;
    const child = r.child;
    if (!child) return;
    const gone = new Promise<void>((done) => child.once('close', () => done()));
    child.kill('SIGTERM');
    const grace = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await gone;
    clearTimeout(grace);
  }

  /** Ends what an earlier agent (killed) left running: the processes its pid files name, when they still run that command. */
  private async sweep(): Promise<void> {
    this.swept = true;
    if (!existsSync(this.opts.runDir)) return;
    for (const name of readdirSync(this.opts.runDir)) {
      const file = join(this.opts.runDir, name, 'pid');
      if (!existsSync(file)) continue;
      try {
        const { pid, cmdline } = JSON.parse(readFileSync(file, 'utf8')) as { pid: number; cmdline: string[] };
        const now = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
        // The program itself, or `ip netns exec NS` a moment before it becomes the program.
        const same = now.slice(-cmdline.length).join('\0') === cmdline.join('\0') && (now.length === cmdline.length || (now[0] === 'ip' && now.length === cmdline.length + 4));
        if (same) {
          this.opts.log(`daemon ${name}: ending pid ${pid}, left by an earlier agent`);
          process.kill(pid, 'SIGTERM');
          for (let i = 0; i < 30 && existsSync(`/proc/${pid}`); i++) await new Promise((r) => setTimeout(r, 100));
          if (existsSync(`/proc/${pid}`)) process.kill(pid, 'SIGKILL');
        }
      } catch {
        // Gone already, or not ours any more.
      }
      rmSync(file, { force: true });
    }
  }
}
