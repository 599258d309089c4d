import { type ChildProcess, fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AgentHalf, ChangeSet, DesiredPluginResource, HostContext, LinkChanges, ManagedHostContext, PluginDefinition } from '@netloom/plugin-sdk';
import { type ChangeOp, type FromChild, fromWire, type PluginMeta, REMOTE_METHODS, type ToChild, toWire } from './sandbox-protocol';

/** How a plugin's sandbox process runs. */
export interface SandboxOptions {
  /** The plugin's module (resolved, its SDK range checked). */
  pluginPath: string;
  /** The user it runs as when the agent is root (`--plugin-user`, default `nobody`): no capabilities, no root files. */
  user?: string;
  /** Its V8 heap limit: a plugin that leaks dies and is started again, alone. */
  maxHeapMb?: number;
  /** How long one call may take before the process is killed (and started again on the next call). */
  callTimeoutMs?: number;
  log: (line: string, level?: 'info' | 'warn') => void;
}

/** What a sandboxed plugin reports of itself once loaded: enough for the agent to route kinds to it and say what it runs. */
export interface SandboxedPlugin {
  definition: PluginDefinition;
  /** Ends its process (after the plugin's own `stop`). */
  close(): Promise<void>;
  /** The pid of its current process (tests, the bench's memory figure). */
  readonly pid: number | undefined;
}

const LINK_METHODS = new Set(['vethAdd', 'linkSet', 'linkDel', 'ifbAdd', 'addrReplace', 'addrDel', 'routeReplace', 'routeDel']);
const SET_METHODS = new Set(['netnsAdd', 'netnsDel']);
const REMOTE = new Set<string>(REMOTE_METHODS);
const CHILD_MAIN = join(__dirname, 'sandbox-child.js');
const START_TIMEOUT_MS = 15_000;

/** The uid and gid of a user, from /etc/passwd. */
export function userIds(name: string): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.split(':')[0] === name);
  if (!line) throw new Error(`no user ${name} on this host (--plugin-user)`);
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

/** Replays, on the agent's own change set (scope checks and all), what the plugin built in its sandbox. */
export function replay(changes: ChangeSet, ops: unknown): void {
  if (!Array.isArray(ops)) throw new Error('apply: not a list of changes');
  for (const op of ops as ChangeOp[]) {
    const args = Array.isArray(op?.args) ? op.args : [];
    if (op.netns === null) {
      if (!SET_METHODS.has(op.method)) throw new Error(`apply: no change ${String(op.method)}`);
      (changes[op.method as 'netnsAdd'] as (...a: unknown[]) => void)(...args);
      continue;
    }
    if (typeof op.netns !== 'string' || !LINK_METHODS.has(op.method)) throw new Error(`apply: no change ${String(op.method)}`);
    const target: LinkChanges = op.netns === '' ? changes.host : changes.in(op.netns);
    (target[op.method as 'linkDel'] as (...a: unknown[]) => unknown).call(target, ...args);
  }
}

/**
 * Starts a plugin's agent half in a process of its own, as an unprivileged user (when the agent
 * is root), and returns a definition whose agent half forwards every call to it. The process
 * loads the plugin itself: the agent never runs the plugin's code. A process that exits, is
 * killed for a call that took too long, or runs out of heap fails the call with that reason; the
 * next call starts a new one, after a backoff that grows while it keeps failing.
 */
export async function startSandboxed(opts: SandboxOptions): Promise<SandboxedPlugin> {
  const ids = process.getuid?.() === 0 ? userIds(opts.user ?? 'nobody') : undefined;
  if (!ids) opts.log(`plugin ${opts.pluginPath}: the agent is not root, so its sandbox runs as the agent's own user`, 'warn');
  let child: ChildProcess | undefined;
  let ready: Promise<PluginMeta> | undefined;
  let failures = 0;
  let lastExit = '';
  let notBefore = 0;
  let host: HostContext | undefined;
  let nextCall = 1;
  const calls = new Map<number, { proc: ChildProcess; resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  /** Processes taken out of service (killed, or dead), with why: their exit touches nothing of the next one's. */
  const retired = new Map<ChildProcess, string>();
  /** Takes the current process out of service at once: the next call starts another (after the backoff). */
  const retire = (proc: ChildProcess, why: string): void => {
    retired.set(proc, why);
    if (child !== proc) return;
    child = undefined;
    ready = undefined;
    lastExit = why;
    failures += 1;
    notBefore = Date.now() + Math.min(30_000, 1_000 * 2 ** (failures - 1));
  };

  const spawnChild = (): Promise<PluginMeta> => {
    const tail: string[] = [];
    // The plugin's path as an argument too: `ps` tells which plugin a sandbox runs.
    const proc = fork(CHILD_MAIN, [opts.pluginPath], {
      ...(ids ?? {}),
      execArgv: [`--max-old-space-size=${opts.maxHeapMb ?? 96}`],
      // Nothing of the agent's environment (a join token) reaches the plugin.
      env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' },
      cwd: '/',
      serialization: 'advanced',
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    child = proc;
    /** The last line that names an error (V8's "FATAL ERROR: … heap out of memory", an uncaught exception): it beats a stack's last lines. */
    let named: string | undefined;
    const keep = (chunk: Buffer): void => {
      const lines = chunk.toString().split('\n').filter(Boolean);
      named = lines.filter((l) => /^(FATAL ERROR|Uncaught|\w*Error\b)/.test(l.trim())).pop() ?? named;
      tail.push(...lines);
      tail.splice(0, Math.max(0, tail.length - 5));
    };
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
    return new Promise((resolve, reject) => {
      proc.on('message', (m: FromChild) => {
        if (m.t === 'ready') {
          failures = 0;
          resolve(m.meta);
        } else if (m.t === 'result' && m.id === 0 && !m.ok) reject(fromWire(m.error));
        else onMessage(proc, m);
      });
      // A process that does not say it is ready in time is ended like one that hangs.
      const startTimer = setTimeout(() => {
        retire(proc, `did not start within ${START_TIMEOUT_MS} ms (killed)`);
        proc.kill('SIGKILL');
      }, START_TIMEOUT_MS);
      proc.once('message', () => clearTimeout(startTimer));
      proc.once('exit', (code, signal) => {
        clearTimeout(startTimer);
        const said = named ?? tail.join(' | ');
        // The current process: its exit is the news. One retired already (killed for its time) said why then.
        if (child === proc) retire(proc, `${signal ? `killed by ${signal}` : `exited with ${code}`}${said ? `: ${said.trim()}` : ''}`);
        const error = new Error(`plugin process ${retired.get(proc) ?? lastExit}`);
        retired.delete(proc);
        reject(error);
        for (const [id, call] of calls) {
          if (call.proc !== proc) continue;
          calls.delete(id);
          call.reject(error);
        }
      });
      proc.send({ t: 'init', pluginPath: opts.pluginPath } satisfies ToChild);
    });
  };

  const onMessage = (proc: ChildProcess, m: FromChild): void => {
    switch (m.t) {
      case 'result': {
        const call = calls.get(m.id);
        calls.delete(m.id);
        if (m.ok) call?.resolve(m.value);
        else call?.reject(fromWire(m.error));
        return;
      }
      case 'req': {
        const reply = (message: ToChild): void => void (proc.connected && proc.send(message));
        const serve = async (): Promise<unknown> => {
          if (!host) throw new Error('no call is running');
          if (!REMOTE.has(m.method)) throw new Error(`no host method ${String(m.method)}`);
          if (m.method === 'apply') return host.apply((changes) => replay(changes, m.args[0]));
          return (host[m.method] as (...a: unknown[]) => Promise<unknown>).apply(host, m.args);
        };
        serve().then(
          (value) => reply({ t: 'reply', id: m.id, ok: true, value }),
          (error: unknown) => reply({ t: 'reply', id: m.id, ok: false, error: toWire(error) }),
        );
        return;
      }
      case 'log':
        host?.log(String(m.line));
        return;
      case 'requestReconcile':
        host?.requestReconcile(String(m.reason));
        return;
      case 'ready':
        // Only the first one, handled at the start.
        return;
    }
  };

  const ensure = () => {
    if (ready) return ready;
    if (Date.now() < notBefore) return Promise.reject(new Error(`plugin process ${lastExit}; started again in ${Math.ceil((notBefore - Date.now()) / 1000)} s`));
    const mine = spawnChild();
    ready = mine;
    mine.catch(() => {
      if (ready === mine) ready = undefined;
    });
    return mine;
  };

  const call = async (what: 'reconcile' | 'observe' | 'stop', desired: DesiredPluginResource[], on: HostContext): Promise<unknown> => {
    await ensure();
    const proc = child!;
    host = on;
    const id = nextCall++;
    const snapshot = (on as ManagedHostContext).snapshot();
    const timeoutMs = opts.callTimeoutMs ?? 25_000;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        calls.delete(id);
        const why = `did not answer ${what} within ${timeoutMs} ms (killed)`;
        retire(proc, why);
        reject(new Error(`plugin process ${why}; started again on the next call`));
        proc.kill('SIGKILL');
      }, timeoutMs);
      calls.set(id, {
        proc,
        resolve: (v) => (clearTimeout(timer), resolve(v)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      proc.send({ t: 'call', id, what, desired, snapshot } satisfies ToChild);
    });
  };

  const meta = await ensure();
  let stopHost: HostContext | undefined;
  const close = async (): Promise<void> => {
    const proc = child;
    if (!proc) return;
    if (meta.stops && stopHost) await call('stop', [], stopHost).catch(() => undefined);
    notBefore = Number.MAX_SAFE_INTEGER;
    const gone = new Promise<void>((done) => proc.once('exit', () => done()));
    proc.kill('SIGTERM');
    const hard = setTimeout(() => proc.kill('SIGKILL'), 3_000);
    await gone;
    clearTimeout(hard);
  };
  const agent: AgentHalf = {
    reconcile: async (desired, on) => {
      stopHost = on;
      return (await call('reconcile', desired, on)) as Awaited<ReturnType<AgentHalf['reconcile']>>;
    },
    ...(meta.observes ? { observe: async (desired: DesiredPluginResource[], on: HostContext) => (await call('observe', desired, on)) as Record<string, Record<string, unknown>> } : {}),
    // The agent stopping: the plugin's own stop, then its process ends.
    stop: () => close(),
  };
  const kinds = Object.fromEntries(meta.kinds.map((k) => [k, { fields: {} }]));
  return {
    definition: { id: meta.id, version: meta.version, sdk: meta.sdk, kinds, agent },
    get pid() {
      return child?.pid;
    },
    close,
  };
}
