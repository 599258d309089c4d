import { createHash } from 'node:crypto';
import { assertIfName, type BatchResult, Linux, TcBatch, type TcQdiscView, wholeBatchFailed } from '@netloom/linux';
import type { ApplyResult, TcDevice, TcHtbClass, TcStats } from './host-context';
import { TRUST_MS } from './trust';

/** Where {@link TrafficControl} acts and what it may touch. */
export interface TrafficControlOptions {
  linux: Linux;
  pluginId: string;
  /** The plugin's 3-hex tag: its root qdiscs' handle is `1<tag>:` (the mark of what it shaped). */
  tag: string;
  /** The namespace playing the host's (undefined: the agent's own). */
  hostNetns: string | undefined;
  /** Checks a device may be shaped (throws with the reason); returns the namespace to run in. */
  place: (dev: string, netns: string | undefined, what: string) => string | undefined;
  /** Checks a redirect target (an ifb) in that namespace. */
  ifb: (name: string, netns: string | undefined) => void;
  trustMs?: number;
}

/** A device as last applied. */
interface Shaped {
  netns: string | undefined;
  dev: string;
  /** What its failures are reported under. */
  key: string;
  hash: string;
  root: boolean;
  ingress: boolean;
  at: number;
}

/** A device as given this pass, its lines built (and so checked). */
interface Wanted extends Omit<Shaped, 'at'> {
  id: string;
  lines: TcBatch;
}

const idOf = (netns: string | undefined, dev: string): string => `${netns ?? ''}\u0000${dev}`;
const INGRESS_PARENT = 'ffff:fff1';

/**
 * The devices one plugin shapes on one host ({@link HostContext.tc}), level-triggered: {@link
 * ensure} is given the whole set every pass, writes what changed, and deletes the qdiscs of the
 * devices no longer given.
 */
export class TrafficControl {
  private readonly shaped = new Map<string, Shaped>();
  private readonly rootHandle: string;
  /** Whether the host namespace's devices with the plugin's mark were taken over (once, on the first call). */
  private adopted = false;

  constructor(private readonly opts: TrafficControlOptions) {
    this.rootHandle = `1${opts.tag}:`;
  }

  /**
   * What it applied to the devices in these namespaces (or named so in the host's) may no longer
   * be there (a link made again has the kernel's default qdiscs): the next call reads them.
   */
  forget(netns: readonly string[], hostDevs: readonly string[] = []): void {
    const ns = new Set(netns);
    const devs = new Set(hostDevs);
    for (const s of this.shaped.values()) if ((s.netns !== undefined && ns.has(s.netns)) || (s.netns === undefined && devs.has(s.dev))) s.at = 0;
  }

  async ensure(devices: readonly TcDevice[]): Promise<ApplyResult> {
    const given: unknown = devices;
    if (!Array.isArray(given)) throw new Error(`plugin ${this.opts.pluginId}: tc takes a list of devices`);
    // Everything is checked and built before anything runs.
    const wanted = new Map<string, Wanted>();
    for (const device of devices) {
      const w = this.build(device);
      if (wanted.has(w.id)) throw new Error(`plugin ${this.opts.pluginId}: tc device ${w.dev}${w.netns ? ` in ${w.netns}` : ''} is given twice`);
      wanted.set(w.id, w);
    }
    const now = Date.now();
    const trust = this.opts.trustMs ?? TRUST_MS;
    // One listing per namespace, read only when something there must be checked or changed.
    const listings = new Map<string, Promise<TcQdiscView[] | null>>();
    const listing = (netns: string | undefined): Promise<TcQdiscView[] | null> => {
      const key = netns ?? '';
      let p = listings.get(key);
      if (!p) {
        const ns = netns ?? this.opts.hostNetns;
        p = this.opts.linux.tcQdiscs(ns).catch(() => null);
        listings.set(key, p);
      }
      return p;
    };
    if (!this.adopted) {
      // What an earlier agent shaped in the host namespace (a port's host end, the plugin's links)
      // is the plugin's if its root carries the mark: rewritten if given, its qdiscs deleted if not.
      const all = await listing(undefined);
      for (const q of all ?? []) {
        const id = idOf(undefined, q.dev ?? '');
        if (q.dev === undefined || q.parent !== 'root' || q.handle !== this.rootHandle || this.shaped.has(id)) continue;
        const ingress = all!.some((x) => x.dev === q.dev && x.parent === INGRESS_PARENT);
        this.shaped.set(id, { netns: undefined, dev: q.dev, key: q.dev, hash: '', root: true, ingress, at: 0 });
      }
      this.adopted = all !== null;
    }
    const failed: ApplyResult['failed'] = [];
    const batches = new Map<string, { netns: string | undefined; batch: TcBatch; ids: Set<string> }>();
    const batchFor = (netns: string | undefined): { batch: TcBatch; ids: Set<string> } => {
      const key = netns ?? '';
      let b = batches.get(key);
      if (!b) batches.set(key, (b = { netns, batch: new TcBatch(netns ?? this.opts.hostNetns), ids: new Set() }));
      return b;
    };
    // What to delete first on a device: its root qdisc unless the kernel's default, its ingress or clsact.
    const clear = (batch: TcBatch, qdiscs: TcQdiscView[], dev: string, key: string, onlyOurs: boolean): void => {
      const root = qdiscs.find((q) => q.parent === 'root');
      if (root && root.handle !== '0:' && (!onlyOurs || root.handle === this.rootHandle)) batch.qdiscDel(dev, 'root', key);
      const ingress = qdiscs.find((q) => q.parent === INGRESS_PARENT);
      if (ingress) batch.qdiscDel(dev, ingress.kind === 'clsact' ? 'clsact' : 'ingress', key);
    };

    await Promise.all(
      [...wanted.values()].map(async (w) => {
        const known = this.shaped.get(w.id);
        if (known?.hash === w.hash && now - known.at < trust) return;
        const all = await listing(w.netns);
        const qdiscs = all?.filter((q) => q.dev === w.dev) ?? [];
        if (qdiscs.length === 0) {
          // Every device has a root qdisc listed (`noqueue` at least): it is not there.
          this.shaped.delete(w.id);
          failed.push({ key: w.key, line: '', error: `no device ${w.dev}${w.netns ? ` in ${w.netns}` : ''}` });
          return;
        }
        if (known?.hash === w.hash && this.holds(qdiscs, w)) {
          known.at = now;
          return;
        }
        const { batch, ids } = batchFor(w.netns);
        clear(batch, qdiscs, w.dev, w.key, false);
        batch.lines.push(...w.lines.lines);
        ids.add(w.id);
      }),
    );
    // Devices no longer given: their qdiscs go, if they are still the plugin's.
    await Promise.all(
      [...this.shaped].map(async ([id, s]) => {
        if (wanted.has(id)) return;
        const all = await listing(s.netns);
        this.shaped.delete(id);
        const qdiscs = all?.filter((q) => q.dev === s.dev) ?? [];
        if (qdiscs.length === 0) return;
        const ours = qdiscs.filter((q) => (q.parent === 'root' ? q.handle === this.rootHandle : s.ingress && q.parent === INGRESS_PARENT));
        if (ours.length) clear(batchFor(s.netns).batch, ours, s.dev, s.key, true);
      }),
    );

    const results = await Promise.all(
      [...batches.values()].map(async ({ batch }): Promise<BatchResult> => this.opts.linux.applyTcBatch(batch).catch((e: unknown) => wholeBatchFailed(batch.lines, e))),
    );
    const failedKeys = new Set<string>();
    for (const result of results) {
      for (const f of result.failed) {
        // A delete fails when what it deletes (or its device) went meanwhile: that is what it was
        // for, and where adds follow they say whether the device holds what was asked.
        if (/^qdisc del /.test(f.text)) continue;
        failed.push({ ...(f.key !== undefined ? { key: f.key } : {}), line: f.text, error: f.error });
        if (f.key !== undefined) failedKeys.add(f.key);
      }
    }
    for (const { ids } of batches.values()) {
      for (const id of ids) {
        const w = wanted.get(id)!;
        if (failedKeys.has(w.key)) this.shaped.delete(id);
        else this.shaped.set(id, { netns: w.netns, dev: w.dev, key: w.key, hash: w.hash, root: w.root, ingress: w.ingress, at: Date.now() });
      }
    }
    return { ok: failed.length === 0, failed };
  }

  async stats(dev: string, netns: string | undefined): Promise<TcStats> {
    const ns = this.opts.place(dev, netns, 'tcStats of');
    const { qdiscs, classes } = await this.opts.linux.tcShow(ns, dev);
    const major = this.rootHandle;
    return {
      qdiscs: qdiscs.map((q) => ({ kind: q.kind, handle: q.handle, parent: q.parent, bytes: q.bytes, packets: q.packets, drops: q.drops, overlimits: q.overlimits, backlog: q.backlog, qlen: q.qlen })),
      classes: classes.map((c) => ({
        kind: c.kind,
        classid: c.classid,
        parent: c.parent,
        ...(c.classid.startsWith(major) ? { id: parseInt(c.classid.slice(major.length), 16) } : {}),
        bytes: c.bytes,
        packets: c.packets,
        drops: c.drops,
        overlimits: c.overlimits,
        backlog: c.backlog,
      })),
    };
  }

  /** Whether the device still holds the plugin's root (of the same kind) and ingress as last applied. */
  private holds(qdiscs: TcQdiscView[], w: Wanted): boolean {
    const root = qdiscs.find((q) => q.parent === 'root');
    const ingress = qdiscs.some((q) => q.parent === INGRESS_PARENT && q.kind === 'ingress');
    return (w.root ? root?.handle === this.rootHandle : root?.handle !== this.rootHandle) && ingress === w.ingress;
  }

  /** Checks a device and writes its lines (the adds; what to delete first is known once the kernel is read). */
  private build(device: TcDevice): Wanted {
    const p = `plugin ${this.opts.pluginId}: tc`;
    if (device === null || typeof device !== 'object') throw new Error(`${p}: a device must be { dev, netns?, root?, ingress? }`);
    const { dev, netns } = device;
    const ns = this.opts.place(dev, netns, 'tc on');
    assertIfName(dev);
    const key = device.key ?? dev;
    if (typeof key !== 'string' || key === '') throw new Error(`${p} ${dev}: key must be a string`);
    const batch = new TcBatch(ns);
    const root = device.root;
    const handle = this.rootHandle;
    if (root !== undefined) {
      if (root === null || typeof root !== 'object') throw new Error(`${p} ${dev}: root must be { kind: 'tbf' | 'htb', … }`);
      if (root.kind === 'tbf') {
        batch.qdiscAdd({ dev, parent: 'root', handle, qdisc: { kind: 'tbf', rate: root.rate, burst: root.burst ?? '32k', latencyMs: root.latencyMs } }, key);
      } else if (root.kind === 'htb') {
        this.htb(batch, dev, key, root.classes, root.defaultClass, root.r2q);
      } else {
        throw new Error(`${p} ${dev}: root kind ${JSON.stringify((root as { kind?: unknown }).kind)}: expected tbf or htb`);
      }
    }
    const ingress = device.ingress;
    const hasIngress = ingress !== undefined && (ingress.police !== undefined || ingress.redirectToIfb !== undefined);
    if (hasIngress) {
      if (ingress.redirectToIfb !== undefined) this.opts.ifb(ingress.redirectToIfb, netns);
      batch.qdiscAdd({ dev, qdisc: { kind: 'ingress' } }, key);
      batch.filterAdd(
        {
          dev,
          parent: 'ingress',
          protocol: 'all',
          prio: 1,
          // u32 over nothing: every packet (matchall is not built into every kernel).
          match: { kind: 'u32' },
          actions: [
            ...(ingress.police ? [{ police: { rate: ingress.police.rate, burst: ingress.police.burst ?? '32k' } }] : []),
            ...(ingress.redirectToIfb !== undefined ? [{ redirect: ingress.redirectToIfb }] : []),
          ],
        },
        key,
      );
    }
    const hash = createHash('sha256').update(batch.toString()).digest('hex').slice(0, 16);
    return { id: idOf(netns, dev), netns, dev, key, hash, root: root !== undefined, ingress: hasIngress, lines: batch };
  }

  private htb(batch: TcBatch, dev: string, key: string, classes: readonly TcHtbClass[], defaultClass: number | undefined, r2q: number | undefined): void {
    const p = `plugin ${this.opts.pluginId}: tc ${dev}`;
    const list: unknown = classes;
    if (!Array.isArray(list)) throw new Error(`${p}: htb classes must be a list`);
    const handle = this.rootHandle;
    const ids = new Set<number>();
    const parents = new Set(classes.map((c) => c?.parent).filter((x) => x !== undefined));
    for (const c of classes) {
      if (c === null || typeof c !== 'object' || !Number.isInteger(c.id) || c.id < 1 || c.id > 0xfff) throw new Error(`${p}: an htb class id is an integer 1-4095`);
      if (ids.has(c.id)) throw new Error(`${p}: htb class ${c.id} is given twice`);
      if (c.parent !== undefined && !ids.has(c.parent)) throw new Error(`${p}: htb class ${c.id}: its parent ${c.parent} must be listed before it`);
      if (c.leaf !== undefined && parents.has(c.id)) throw new Error(`${p}: htb class ${c.id} has classes under it: it takes no leaf`);
      ids.add(c.id);
    }
    if (defaultClass !== undefined && !ids.has(defaultClass)) throw new Error(`${p}: htb default class ${defaultClass} is not one of its classes`);
    batch.qdiscAdd({ dev, parent: 'root', handle, qdisc: { kind: 'htb', defaultClass, r2q } }, key);
    const classid = (id: number): string => `${handle}${id.toString(16)}`;
    for (const c of classes) {
      batch.classAdd({ dev, parent: c.parent === undefined ? handle : classid(c.parent), classid: classid(c.id), rate: c.rate, ceil: c.ceil ?? c.rate, burst: c.burst, prio: c.prio }, key);
      if (c.leaf !== undefined) {
        if (c.leaf.kind !== 'fq_codel' && c.leaf.kind !== 'pfifo') throw new Error(`${p}: htb class ${c.id}: leaf kind must be fq_codel or pfifo`);
        batch.qdiscAdd({ dev, parent: classid(c.id), handle: `${c.id.toString(16)}:`, qdisc: { kind: c.leaf.kind, limit: c.leaf.limit } }, key);
      }
    }
    let prio = 1;
    for (const c of classes) {
      for (const m of c.match ?? []) {
        if (m === null || typeof m !== 'object') throw new Error(`${p}: htb class ${c.id}: a match is { src?, dst?, ipProto?, family? }`);
        const addressFamily = [m.src, m.dst].some((a) => typeof a === 'string' && a.includes(':')) ? 6 : [m.src, m.dst].some((a) => a !== undefined) ? 4 : undefined;
        const family = m.family ?? addressFamily ?? 4;
        if (family !== 4 && family !== 6) throw new Error(`${p}: htb class ${c.id}: family must be 4 or 6`);
        if (m.src === undefined && m.dst === undefined && m.ipProto === undefined) throw new Error(`${p}: htb class ${c.id}: a match names src, dst or ipProto (use defaultClass for everything else)`);
        batch.filterAdd(
          { dev, parent: handle, protocol: family === 6 ? 'ipv6' : 'ip', prio: prio++, match: { kind: 'u32', src: m.src, dst: m.dst, ipProto: m.ipProto }, classid: classid(c.id) },
          key,
        );
      }
    }
  }
}
