import { assertIfName, assertIp, assertMac } from './names';
import { Batch } from './batch';

/**
 * A builder of `bridge -batch` lines for forwarding-database entries (e.g. VXLAN remote VTEPs),
 * run by `Linux.applyBridgeBatch` as one `bridge [-n NS] -force -batch -`. Arguments are validated
 * like {@link IpBatch}'s.
 */
export class BridgeBatch extends Batch {




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

}
