import { assertIfName, assertIp, assertMac, assertNetnsName } from './names';
import type { BatchLine } from './ip-batch';

/**
 * A builder of `bridge -batch` lines for forwarding-database entries (e.g. VXLAN remote VTEPs),
 * run by `Linux.applyBridgeBatch` as one `bridge [-n NS] -force -batch -`. Arguments are validated
 * like {@link IpBatch}'s.
 */
export class BridgeBatch {
  /** The lines so far; line N of the batch is `lines[N - 1]`. */
  readonly lines: BatchLine[] = [];

  /** @param netns the namespace the batch runs in; undefined = the agent's own namespace. */
  constructor(readonly netns?: string) {
    if (netns !== undefined) assertNetnsName(netns);
  }

  /** Number of lines. */
  get length(): number {
    return this.lines.length;
  }

  /** The batch as `bridge` reads it on stdin. */
  toString(): string {
    return this.lines.map((l) => `${l.text}\n`).join('');
  }

  /** `fdb append MAC dev DEV dst IP`: one more remote for MAC (00:00:00:00:00:00 = flooding). */
  fdbAppend(mac: string, dev: string, dst: string, key?: string): this {
    return this.push(`fdb append ${assertMac(mac)} dev ${assertIfName(dev)} dst ${assertIp(dst)}`, key);
  }

  /** `fdb replace MAC dev DEV dst IP`: MAC's only remote becomes IP. */
  fdbReplace(mac: string, dev: string, dst: string, key?: string): this {
    return this.push(`fdb replace ${assertMac(mac)} dev ${assertIfName(dev)} dst ${assertIp(dst)}`, key);
  }

  /** `fdb del MAC dev DEV [dst IP]`. */
  fdbDel(mac: string, dev: string, dst?: string, key?: string): this {
    const via = dst === undefined ? '' : ` dst ${assertIp(dst)}`;
    return this.push(`fdb del ${assertMac(mac)} dev ${assertIfName(dev)}${via}`, key);
  }

  private push(text: string, key?: string): this {
    this.lines.push(key === undefined ? { text } : { text, key });
    return this;
  }
}
