import { assertNetnsName } from './names';

/** One line of a batch, with the resource it serves (so a failure maps back to it). */
export interface BatchLine {
  text: string;
  key?: string;
  /** The same request as data, for the netlink helper (see `netlink.ts`); absent where only `ip` can do it. */
  op?: NetlinkOp;
}

/**
 * One `ip -batch` line as the request it makes, with the values `ip` would send: validated
 * already, run by the netlink helper exactly as `ip` would (one netlink request, or two for a name).
 */
export type NetlinkOp =
  | {
      op: 'link';
      dev: string;
      up?: boolean;
      down?: boolean;
      mtu?: number;
      address?: string;
      master?: string;
      nomaster?: boolean;
      alias?: string;
      addrgenmode?: 'none' | 'eui64';
    }
  | { op: 'linkDel'; dev: string }
  | { op: 'netnsAdd'; name: string }
  | { op: 'netnsDel'; name: string }
  | { op: 'vethAdd'; dev: string; peer: string; peerNetns?: string; master?: string; mtu?: number; up?: boolean }
  | { op: 'addr'; cmd: 'replace' | 'del'; address: string; prefixlen: number; family: 4 | 6; dev: string }
  | { op: 'route'; cmd: 'replace' | 'del'; dst: string | null; dstLen: number; via?: string; dev?: string; family: 4 | 6; table?: number }
  | { op: 'neigh'; cmd: 'replace' | 'del'; ip: string; mac?: string; family: 4 | 6; dev: string }
  | { op: 'rule'; cmd: 'add' | 'del'; iif: string; table: number; pref: number }
  /** `route flush table T`: the table's IPv4 routes (ip's family when a table is named and none is). */
  | { op: 'routeFlush'; table: number }
  | { op: 'hairpin'; dev: string; on: boolean };

/** What every `-batch` builder shares: validated lines, in order, for one namespace. */
export abstract class Batch {
  /** The lines so far, in order; line N of the batch is `lines[N - 1]`. */
  readonly lines: BatchLine[] = [];

  /** @param netns the namespace the batch runs in; undefined = the agent's own namespace. */
  constructor(readonly netns?: string) {
    if (netns !== undefined) assertNetnsName(netns);
  }

  /** Number of lines. */
  get length(): number {
    return this.lines.length;
  }

  /** The batch as the command reads it on stdin. */
  toString(): string {
    return this.lines.map((l) => `${l.text}\n`).join('');
  }

  protected push(text: string, key?: string, op?: NetlinkOp): this {
    const line: BatchLine = key === undefined ? { text } : { text, key };
    // Not enumerable: the lines stay what they were to whoever compares or prints them.
    if (op) Object.defineProperty(line, 'op', { value: op, enumerable: false });
    this.lines.push(line);
    return this;
  }
}
