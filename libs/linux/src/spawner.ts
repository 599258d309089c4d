import { existsSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { createInterface } from 'node:readline';
import { execa } from 'execa';

/** What a command did, as the helper saw it; `error` when it did not start or did not end normally. */
export interface SpawnResult {
  stdout: string;
  stderr: string;
  exitCode: number | null;
  error?: string;
}

/**
 * The helper: a Node.js program that reads one request per line on stdin, starts the command
 * (no shell), feeds it its input, and answers on stdout with its pid as soon as it has one, then
 * with its output and exit. It ends when its stdin closes.
 */
const PROGRAM = `
const { spawn } = require('node:child_process');
const send = (m) => process.stdout.write(JSON.stringify(m) + '\\n');
require('node:readline').createInterface({ input: process.stdin }).on('line', (line) => {
  const r = JSON.parse(line);
  let child;
  try {
    child = spawn(r.command, r.args, { env: r.env, stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (e) {
    send({ id: r.id, error: String(e && e.message) });
    return;
  }
  if (child.pid !== undefined) send({ id: r.id, pid: child.pid });
  const out = [];
  const err = [];
  let done = false;
  let timedOut = false;
  const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, r.timeoutMs);
  const end = (m) => { if (done) return; done = true; clearTimeout(timer); send(Object.assign({ id: r.id }, m)); };
  child.on('error', (e) => end({ error: String(e && e.message) }));
  child.stdout.on('data', (c) => out.push(c));
  child.stderr.on('data', (c) => err.push(c));
  const ended = (code, signal) => end({
    exitCode: code,
    error: timedOut ? 'timed out after ' + r.timeoutMs + ' ms' : signal ? 'killed by ' + signal : undefined,
    stdout: Buffer.concat(out).toString('utf8'),
    stderr: Buffer.concat(err).toString('utf8'),
  });
  child.on('close', ended);
  // Killed for its time: answered at once, not when some process it started lets go of its output.
  child.on('exit', (code, signal) => timedOut && ended(code, signal));
  child.stdin.on('error', () => undefined);
  child.stdin.end(r.input);
});
process.stdin.on('end', () => process.exit(0));
`;

/**
 * The same helper in Python (used where `/usr/bin/python3` is, as it is wherever the netlink
 * helper runs): about 10 MB resident against Node's 50-60 MB, and the same lines in and out. A
 * thread per command; killed for its time, it is answered at once (a process it started may keep
 * its output open).
 */
const PY_PROGRAM = `
import errno, json, signal, subprocess, sys, threading
lock = threading.Lock()
def send(m):
    with lock:
        sys.stdout.write(json.dumps(m) + "\\n")
        sys.stdout.flush()
def run(r):
    try:
        child = subprocess.Popen([r["command"]] + r["args"], env=r["env"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except OSError as e:
        send({"id": r["id"], "error": "spawn %s %s" % (r["command"], errno.errorcode.get(e.errno, str(e.errno)))})
        return
    send({"id": r["id"], "pid": child.pid})
    try:
        out, err = child.communicate(r["input"].encode(), timeout=r["timeoutMs"] / 1000.0)
    except subprocess.TimeoutExpired as e:
        child.kill()
        child.wait()
        send({"id": r["id"], "exitCode": None, "error": "timed out after %d ms" % r["timeoutMs"], "stdout": (e.output or b"").decode("utf-8", "replace"), "stderr": (e.stderr or b"").decode("utf-8", "replace")})
        return
    code = child.returncode
    m = {"id": r["id"], "exitCode": code if code >= 0 else None, "stdout": out.decode("utf-8", "replace"), "stderr": err.decode("utf-8", "replace")}
    if code < 0:
        m["error"] = "killed by " + signal.Signals(-code).name
    send(m)
for line in sys.stdin:
    threading.Thread(target=run, args=(json.loads(line),), daemon=True).start()
`;

/** The interpreter of {@link PY_PROGRAM}: Debian's, as the netlink helper's. */
const PYTHON = '/usr/bin/python3';

interface Pending {
  resolve: (result: SpawnResult) => void;
  onSpawn?: (pid: number) => void;
}

/** A long-lived child spoken to by lines on its stdin and stdout. */
export type LineHelper = ReturnType<typeof execa> & { stdin: Writable; stdout: Readable };
type Helper = LineHelper;

/** Starts `command args` through `setpriv --pdeathsig KILL` (it dies with this process), stdin and stdout piped, stderr dropped. */
export function startLineHelper(command: string, args: string[], env?: NodeJS.ProcessEnv): LineHelper {
  return execa('setpriv', ['--pdeathsig', 'KILL', '--', command, ...args], {
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: 'ignore',
    buffer: false,
    reject: false,
    shell: false,
    ...(env ? { env, extendEnv: false } : {}),
  });
}

/** While requests are out, a helper keeps this process alive (an awaited answer must come); idle, it does not. */
export function holdHelper(helper: LineHelper, busy: boolean): void {
  const handles = [helper, helper.stdout, helper.stdin] as unknown as { ref?: () => void; unref?: () => void }[];
  for (const h of handles) (busy ? h.ref : h.unref)?.call(h);
}

/**
 * Starts short commands through one long-lived helper process per process (shared by every
 * runner), so the fork that starts each command copies the helper's few pages instead of the
 * caller's: a fork blocks the forking process for as long as copying its page tables takes,
 * which for an agent holding a thousand ports (200 MB) was 10-40 ms here, against about 2 ms
 * from the helper. The helper dies with this process (`setpriv --pdeathsig KILL`), is started
 * on first use and again after it ended, and keeps nothing alive while idle.
 */
export class Spawner {
  private helper: Helper | undefined;

  /** `python`: the Python helper where its interpreter is (the default), else Node's. */
  constructor(private readonly opts: { python?: boolean } = {}) {}
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  /** Runs one command; never rejects (a failure to start or a helper that ended is an `error`). */
  run(command: string, args: string[], input: string, env: NodeJS.ProcessEnv, timeoutMs: number, onSpawn?: (pid: number) => void): Promise<SpawnResult> {
    const helper = this.helper ?? this.start();
    const id = this.nextId++;
    return new Promise<SpawnResult>((resolve) => {
      if (!this.pending.size) this.hold(helper, true);
      this.pending.set(id, { resolve, onSpawn });
      helper.stdin.write(`${JSON.stringify({ id, command, args, input, env, timeoutMs })}\n`);
    });
  }

  private start(): Helper {
    const python = (this.opts.python ?? true) && existsSync(PYTHON);
    const helper = python ? startLineHelper(PYTHON, ['-c', PY_PROGRAM]) : startLineHelper(process.execPath, ['-e', PROGRAM]);
    this.helper = helper;
    helper.stdin.on('error', () => undefined);
    createInterface({ input: helper.stdout, crlfDelay: Infinity }).on('line', (line) => this.answer(line));
    void helper.then((result) => {
      if (this.helper === helper) this.helper = undefined;
      const why = `the command helper ended (${result.shortMessage ?? `exit ${String(result.exitCode)}`})`;
      for (const [id, p] of this.pending) {
        this.pending.delete(id);
        p.resolve({ stdout: '', stderr: '', exitCode: null, error: why });
      }
    });
    this.hold(helper, false);
    return helper;
  }

  private answer(line: string): void {
    let m: { id: number; pid?: number } & Partial<SpawnResult>;
    try {
      m = JSON.parse(line) as typeof m;
    } catch {
      return;
    }
    const p = this.pending.get(m.id);
    if (!p) return;
    if (m.pid !== undefined && m.exitCode === undefined && m.error === undefined) {
      p.onSpawn?.(m.pid);
      return;
    }
    this.pending.delete(m.id);
    if (!this.pending.size && this.helper) this.hold(this.helper, false);
    p.resolve({ stdout: m.stdout ?? '', stderr: m.stderr ?? '', exitCode: m.exitCode ?? null, ...(m.error ? { error: m.error } : {}) });
  }

  private hold(helper: Helper, busy: boolean): void {
    holdHelper(helper, busy);
  }
}

/** The one helper of this process. */
export const spawner = new Spawner();
