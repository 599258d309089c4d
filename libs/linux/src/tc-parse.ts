import type { TcClassView, TcFilterView, TcQdiscView } from './types';

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** `tc -s -j qdisc show [dev D]` as typed views. Pure. */
export function parseTcQdiscs(stdout: string): TcQdiscView[] {
  const text = stdout.trim();
  if (text === '') return [];
  const list = JSON.parse(text) as unknown;
  if (!Array.isArray(list)) throw new Error('tc qdisc show: expected a JSON array');
  return (list as Record<string, unknown>[]).map((q) => ({
    ...(typeof q.dev === 'string' ? { dev: q.dev } : {}),
    kind: String(q.kind),
    handle: String(q.handle),
    parent: q.root === true ? 'root' : str(q.parent),
    bytes: num(q.bytes),
    packets: num(q.packets),
    drops: num(q.drops),
    overlimits: num(q.overlimits),
    backlog: num(q.backlog),
    qlen: num(q.qlen),
  }));
}

/** `tc -j filter show dev D ingress|egress`: its filters (tc lists each also as a bare head without options, left out). */
export function parseTcFilters(stdout: string): TcFilterView[] {
  const text = stdout.trim();
  if (text === '') return [];
  const list = JSON.parse(text) as unknown;
  if (!Array.isArray(list)) throw new Error('tc filter show: expected a JSON array');
  return (list as Record<string, unknown>[])
    .filter((f) => typeof f.options === 'object' && f.options !== null)
    .map((f) => {
      const options = f.options as Record<string, unknown>;
      return {
        kind: String(f.kind),
        prio: num(f.pref),
        ...(typeof options.handle === 'string' ? { handle: options.handle } : {}),
        ...(typeof options.bpf_name === 'string' ? { bpfName: options.bpf_name } : {}),
      };
    });
}

/** A size as tc prints it (`0b`, `1514b`, `15Kb`, `2Mb`) in bytes. */
function size(text: string): number {
  const m = /^(\d+(?:\.\d+)?)([KMG]?)b$/.exec(text);
  if (!m) return 0;
  return Math.round(Number(m[1]) * ({ '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 } as Record<string, number>)[m[2]]);
}

/**
 * `tc -s -j class show [dev D]` as typed views. iproute2 6.1 prints classes as text even with
 * `-j` (its JSON output for classes came later), so both are read. Pure.
 */
export function parseTcClasses(stdout: string): TcClassView[] {
  const text = stdout.trim();
  if (text === '') return [];
  if (text.startsWith('[')) {
    return (JSON.parse(text) as Record<string, unknown>[]).map((c) => ({
      kind: String(c.class ?? c.kind),
      classid: String(c.handle),
      parent: c.root === true ? 'root' : str(c.parent),
      bytes: num(c.bytes),
      packets: num(c.packets),
      drops: num(c.drops),
      overlimits: num(c.overlimits),
      backlog: num(c.backlog),
    }));
  }
  const out: TcClassView[] = [];
  let current: TcClassView | undefined;
  for (const line of text.split('\n')) {
    const head = /^class (\S+) (\S+) (?:(root)|parent (\S+))/.exec(line);
    if (head) {
      current = { kind: head[1], classid: head[2], parent: head[3] ?? head[4], bytes: 0, packets: 0, drops: 0, overlimits: 0, backlog: 0 };
      out.push(current);
      continue;
    }
    if (!current) continue;
    const sent = /Sent (\d+) bytes (\d+) pkt \(dropped (\d+), overlimits (\d+)/.exec(line);
    if (sent) Object.assign(current, { bytes: Number(sent[1]), packets: Number(sent[2]), drops: Number(sent[3]), overlimits: Number(sent[4]) });
    const backlog = /^\s*backlog (\S+) /.exec(line);
    if (backlog) current.backlog = size(backlog[1]);
  }
  return out;
}
