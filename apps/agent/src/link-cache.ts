import { LinkInfo, Linux } from '@netloom/linux';

/** Past this many links named by events, one full read is cheaper than one read each. */
const SINGLE_READS_MAX = 16;

/**
 * The links this agent owns, as last read, kept current by `ip monitor link` events (an
 * informer, in Kubernetes terms): a pass re-reads only the links events named since the last
 * one. A full read happens at start, on every periodic resync, and whenever an event could not
 * be attributed or the monitor died.
 */
export class LinkCache {
  private readonly links = new Map<string, LinkInfo>();
  private readonly dirty = new Set<string>();
  private stale = true;

  constructor(
    private readonly linux: Linux,
    private readonly owns: (ifname: string) => boolean,
  ) {}

  /** A link event: re-read that link next time (an unnamed event means: read everything). */
  touched(ifname: string | undefined): void {
    if (ifname === undefined) this.stale = true;
    else if (this.owns(ifname)) this.dirty.add(ifname);
  }

  invalidate(): void {
    this.stale = true;
  }

  /** The owned links now. Events arriving during the read stay marked for the next one. */
  async read(): Promise<Map<string, LinkInfo>> {
    if (this.stale || this.dirty.size > SINGLE_READS_MAX) {
      this.stale = false;
      this.dirty.clear();
      const all = await this.linux.links();
      this.links.clear();
      for (const l of all) if (this.owns(l.ifname)) this.links.set(l.ifname, l);
    } else if (this.dirty.size) {
      const names = [...this.dirty];
      this.dirty.clear();
      await this.refresh(names);
    }
    return new Map(this.links);
  }

  /** Reads the named links now (e.g. to verify what a pass just changed) and returns them. */
  async refresh(names: string[]): Promise<Map<string, LinkInfo>> {
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
    });
    return out;
  }
}
