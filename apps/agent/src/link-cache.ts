import { LinkEvent, LinkInfo, Linux } from '@netloom/linux';

/** Past this many links named by events, one full read is cheaper than one read each. */
const SINGLE_READS_MAX = 16;

type LinkState = NonNullable<LinkEvent['state']>;

/** An event's state over a link as read (what the event line does not show stays as read). */
const withState = (link: LinkInfo, state: LinkState): LinkInfo => ({ ...link, ...state, master: state.master });

/**
 * The links this agent owns, as last read, kept current by `ip monitor link` events (an
 * informer, in Kubernetes terms): a pass re-reads only the links events named since the last
 * read. An event that shows a link as it was read (a carrier change, the echo of a change this
 * agent made and read back) names nothing. A full read happens at start, on every periodic
 * resync, and whenever an event could not be attributed or the monitor died.
 */
export class LinkCache {
  private readonly links = new Map<string, LinkInfo>();
  /** Links to read again, with the tick they were marked at: a read begun later settles them. */
  private readonly dirty = new Map<string, number>();
  /** The last event of each marked link: a read that shows the same settles it too. */
  private readonly lastEvent = new Map<string, { ifindex?: number; state: LinkState }>();
  private stale = true;
  private staleAt = 0;
  private tick = 0;

  /**
   * `owns`: the links kept; `addressMatters`: those whose MAC a reader acts on (a bridge's own
   * follows its ports', and the agent acts on none of its links' MACs: the plugins' legs matter).
   */
  constructor(
    private readonly linux: Linux,
    private readonly owns: (ifname: string) => boolean,
    private readonly addressMatters: (ifname: string) => boolean = () => true,
  ) {}

  /** What a pass acts on: a link with the same of these was not changed in any way a reader cares about. */
  private same(a: LinkInfo | undefined, b: LinkInfo | undefined): boolean {
    return (
      a === b ||
      (!!a &&
        !!b &&
        a.ifindex === b.ifindex &&
        a.up === b.up &&
        a.mtu === b.mtu &&
        a.master === b.master &&
        (a.address === b.address || !this.addressMatters(a.ifname)) &&
        JSON.stringify(a.vxlan) === JSON.stringify(b.vxlan) &&
        JSON.stringify(a.vlan) === JSON.stringify(b.vlan))
    );
  }

  /** A link (or a plugin) changed this link: read it again next time (no name: read everything). */
  touched(ifname: string | undefined): void {
    if (ifname === undefined) this.invalidate();
    else if (this.owns(ifname)) this.dirty.set(ifname, ++this.tick);
  }

  /**
   * A link event. Returns whether it may show what the last reads did not: an unattributed line,
   * a link not read yet (new, or made again under its name), one gone, or one whose state (up,
   * MTU, master, MAC) is not what was read; that link is read again next time. An event that
   * shows the link as read settles it: events come in the kernel's order, so the latest says
   * how the link is (an earlier one may have shown a step of a change since read back). Events
   * of links not ours change nothing.
   */
  event(e: LinkEvent): boolean {
    if (e.ifname === undefined) {
      this.invalidate();
      return true;
    }
    if (!this.owns(e.ifname)) return false;
    const known = this.links.get(e.ifname);
    if (!e.deleted && known && e.state && known.ifindex === e.ifindex && this.same(known, withState(known, e.state))) {
      this.dirty.delete(e.ifname);
      this.lastEvent.delete(e.ifname);
      return false;
    }
    this.dirty.set(e.ifname, ++this.tick);
    if (!e.deleted && e.state) this.lastEvent.set(e.ifname, { ifindex: e.ifindex, state: e.state });
    else this.lastEvent.delete(e.ifname);
    return true;
  }

  /** A link as last read, without reading. */
  get(ifname: string): LinkInfo | undefined {
    return this.links.get(ifname);
  }

  invalidate(): void {
    this.stale = true;
    this.staleAt = ++this.tick;
  }

  /** Whether some link must be read again (the next {@link read} runs a command). */
  get pending(): boolean {
    return this.stale || this.dirty.size > 0;
  }

  /**
   * The owned links now (those `only` picks, when given: only they are read again). Events
   * arriving during the read stay marked for the next one.
   */
  async read(only?: (ifname: string) => boolean): Promise<Map<string, LinkInfo>> {
    const dirty = [...this.dirty.keys()].filter((name) => !only || only(name));
    if (this.stale || dirty.length > SINGLE_READS_MAX) await this.readAll();
    else if (dirty.length) await this.refresh(dirty);
    return only ? new Map([...this.links].filter(([name]) => only(name))) : new Map(this.links);
  }

  /**
   * Reads what events marked and tells whether any of it differs from what was read before (a
   * link made, gone, or changed as a pass cares): if not, no pass is needed for them.
   */
  async settle(): Promise<boolean> {
    if (!this.pending) return false;
    if (this.stale || this.dirty.size > SINGLE_READS_MAX) {
      const before = new Map(this.links);
      await this.readAll();
      return before.size !== this.links.size || [...this.links].some(([name, link]) => !this.same(before.get(name), link));
    }
    const names = [...this.dirty.keys()];
    const before = names.map((name) => this.links.get(name));
    const after = await this.refresh(names);
    return names.some((name, i) => !this.same(before[i], after.get(name)));
  }

  /** Reads the named links now (e.g. to verify what a pass just changed) and returns them. */
  async refresh(names: string[]): Promise<Map<string, LinkInfo>> {
    const startedAt = ++this.tick;
    const found = await Promise.all(names.map((name) => this.linux.link(name)));
    const out = new Map<string, LinkInfo>();
    names.forEach((name, i) => {
      const link = found[i];
      if (link) {
        this.links.set(name, link);
        out.set(name, link);
      } else {
        this.links.delete(name);
      }
      this.settled(name, startedAt);
    });
    return out;
  }

  /**
   * After a read of `name` begun at `startedAt`: a mark made before is settled; so is one made
   * during the read by an event showing the link as read (older or newer, it was so).
   */
  private settled(name: string, startedAt: number): void {
    const marked = this.dirty.get(name);
    if (marked === undefined) return;
    const event = this.lastEvent.get(name);
    const link = this.links.get(name);
    if (marked < startedAt || (event && link && link.ifindex === event.ifindex && this.same(link, withState(link, event.state)))) {
      this.dirty.delete(name);
      this.lastEvent.delete(name);
    }
  }

  private async readAll(): Promise<void> {
    const startedAt = ++this.tick;
    const all = await this.linux.links();
    this.links.clear();
    for (const l of all) if (this.owns(l.ifname)) this.links.set(l.ifname, l);
    if (this.staleAt < startedAt) this.stale = false;
    for (const name of [...this.dirty.keys()]) this.settled(name, startedAt);
  }
}
