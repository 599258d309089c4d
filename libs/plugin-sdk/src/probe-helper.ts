import { isIP } from 'node:net';
import type { Linux, StreamHandle } from '@netloom/linux';
import type { ProbeCheck, ProbeResult } from './host-context';

/**
 * The probe helper: a Node.js program run with `-e` inside a namespace (a string, so it works the
 * same from the sources under ts-jest and from dist). It reads one JSON request a line on stdin,
 * `{id, type, address, port, timeoutMs, path, expectStatus}`, answers `{id, ok, detail, ms}` a line
 * on stdout, any number at once, and exits when its stdin closes (its agent is gone).
 */
export const PROBE_PROGRAM = String.raw`'use strict';
const net = require('net');
const send = (answer) => process.stdout.write(JSON.stringify(answer) + '\n');
function probe(q) {
  const started = process.hrtime.bigint();
  let done = false;
  let connected = false;
  let head = '';
  const socket = net.connect({ host: q.address, port: q.port });
  const finish = (ok, detail) => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    socket.destroy();
    send({ id: q.id, ok, detail, ms: Math.round(Number(process.hrtime.bigint() - started) / 1e4) / 100 });
  };
  const timer = setTimeout(() => finish(false, 'timeout'), q.timeoutMs);
  socket.on('error', (e) => finish(false, (connected ? 'read ' : 'connect ') + (e.code || e.message)));
  socket.on('end', () => finish(false, 'closed before a status line'));
  socket.on('connect', () => {
    connected = true;
    if (q.type !== 'http') return finish(true, 'connected');
    const host = q.address.includes(':') ? '[' + q.address + ']' : q.address;
    socket.write('GET ' + q.path + ' HTTP/1.0\r\nHost: ' + host + '\r\nUser-Agent: netloom-health\r\n\r\n');
  });
  socket.on('data', (chunk) => {
    head += chunk.toString('latin1');
    if (!head.includes('\n') && head.length < 1024) return;
    const m = /^HTTP\/\d(?:\.\d)? (\d{3})[ \r\n]/.exec(head);
    if (!m) return finish(false, 'bad status line');
    const code = Number(m[1]);
    finish(q.expectStatus.some((r) => code >= r.from && code <= r.to), 'status ' + code);
  });
}
require('readline').createInterface({ input: process.stdin })
  .on('line', (line) => {
    let q;
    try { q = JSON.parse(line); } catch { return; }
    probe(q);
  })
  .on('close', () => process.exit(0));
`;

/** What goes to the helper: a check with its defaults filled in. */
interface ProbeRequest {
  type: 'tcp' | 'http';
  address: string;
  port: number;
  timeoutMs: number;
  path: string;
  expectStatus: { from: number; to: number }[];
}

/** The helper may start late (a cold Node.js): its own timeout counts from when it reads the request. */
const ANSWER_GRACE_MS = 2_000;
const PATH = /^\/[\x21-\x7e]{0,199}$/;

/**
 * A check with its defaults, or a reason for failing it at once (a bad HTTP path, which may come
 * from a user's spec). Throws for what only a plugin's bug produces: a bad type, address, port,
 * timeout or status range.
 */
export function probeRequest(check: ProbeCheck): ProbeRequest | { invalid: string } {
  const c = (check ?? {}) as Partial<ProbeCheck>;
  const bad = (what: string, rule: string): never => {
    throw new Error(`probe: invalid ${what} ${JSON.stringify(c[what as keyof ProbeCheck])}: ${rule}`);
  };
  if (c.type !== 'tcp' && c.type !== 'http') bad('type', "expected 'tcp' or 'http'");
  if (typeof c.address !== 'string' || c.address.includes('%') || isIP(c.address) === 0) bad('address', 'expected an IPv4 or IPv6 address');
  if (!Number.isInteger(c.port) || c.port! < 1 || c.port! > 65535) bad('port', 'expected an integer 1-65535');
  if (!Number.isInteger(c.timeoutMs) || c.timeoutMs! < 50 || c.timeoutMs! > 60_000) bad('timeoutMs', 'expected an integer 50-60000');
  const expectStatus = c.expectStatus ?? [{ from: 200, to: 399 }];
  const code = (n: unknown): boolean => Number.isInteger(n) && (n as number) >= 100 && (n as number) <= 599;
  if (!Array.isArray(expectStatus) || !expectStatus.every((r) => code(r?.from) && code(r?.to) && r.from <= r.to)) {
    bad('expectStatus', 'expected ranges {from, to} of status codes 100-599');
  }
  const path = c.path ?? '/';
  if (c.type === 'http' && (typeof path !== 'string' || !PATH.test(path))) {
    return { invalid: `invalid path ${JSON.stringify(String(path).slice(0, 80))}: '/' then printable ASCII without spaces, at most 200 characters` };
  }
  return { type: c.type!, address: c.address!, port: c.port!, timeoutMs: c.timeoutMs!, path, expectStatus };
}

interface Helper {
  handle: StreamHandle;
  /** Probe id → where its answer goes. */
  pending: Map<number, (result: ProbeResult) => void>;
}

/**
 * One probe helper per namespace, started on first use, multiplexing concurrent probes by id.
 * A helper that dies fails its pending probes; the next probe starts a new one.
 */
export class ProbeHelpers {
  private readonly helpers = new Map<string, Helper>();
  private nextId = 0;

  constructor(
    private readonly linux: Linux,
    private readonly log: (line: string) => void,
  ) {}

  /** Runs a check in `netns` (whose ownership the caller checked). */
  probe(netns: string, check: ProbeCheck): Promise<ProbeResult> {
    const request = probeRequest(check);
    if ('invalid' in request) return Promise.resolve({ ok: false, detail: request.invalid, ms: 0 });
    const helper = this.helpers.get(netns) ?? this.start(netns);
    const id = ++this.nextId;
    return new Promise((resolve) => {
      const settle = (result: ProbeResult): void => {
        clearTimeout(timer);
        helper.pending.delete(id);
        resolve(result);
      };
      const timer = setTimeout(() => settle({ ok: false, detail: 'timeout', ms: request.timeoutMs }), request.timeoutMs + ANSWER_GRACE_MS);
      helper.pending.set(id, settle);
      if (!helper.handle.write(`${JSON.stringify({ id, ...request })}\n`)) settle({ ok: false, detail: 'probe helper not running', ms: 0 });
    });
  }

  /** Ends the helpers of these namespaces (SIGTERM to exactly those processes) and waits for them. */
  async end(namespaces: Iterable<string>): Promise<void> {
    const ending: Promise<void>[] = [];
    for (const netns of namespaces) {
      const helper = this.helpers.get(netns);
      if (!helper) continue;
      this.helpers.delete(netns);
      helper.handle.stop();
      failPending(helper, 'probe helper stopped');
      ending.push(helper.handle.exited);
    }
    await Promise.all(ending);
  }

  /** Ends every helper. */
  close(): Promise<void> {
    return this.end([...this.helpers.keys()]);
  }

  private start(netns: string): Helper {
    const pending = new Map<number, (result: ProbeResult) => void>();
    const helper: Helper = {
      pending,
      handle: this.linux.nodeProgram(
        netns,
        PROBE_PROGRAM,
        (line) => answer(helper, line),
        (error) => {
          if (this.helpers.get(netns) === helper) this.helpers.delete(netns);
          const why = `exit ${error.exitCode}${error.stderr.trim() ? `: ${error.stderr.trim().slice(-200)}` : ''}`;
          this.log(`probe helper in ${netns} ended (${why})`);
          failPending(helper, `probe helper ended (${why})`);
        },
      ),
    };
    this.helpers.set(netns, helper);
    return helper;
  }
}

function answer(helper: Helper, line: string): void {
  let a: { id?: unknown; ok?: unknown; detail?: unknown; ms?: unknown };
  try {
    a = JSON.parse(line) as typeof a;
  } catch {
    return;
  }
  if (typeof a?.id !== 'number') return;
  helper.pending.get(a.id)?.({ ok: a.ok === true, detail: typeof a.detail === 'string' ? a.detail : '', ms: typeof a.ms === 'number' ? a.ms : 0 });
}

function failPending(helper: Helper, detail: string): void {
  for (const settle of [...helper.pending.values()]) settle({ ok: false, detail, ms: 0 });
}
