import { COMMAND_TIMEOUT_MS, type Linux, type NftTransaction, type StreamHandle } from '@netloom/linux';

/** How long a pid of one of our own nft writes stays ours while its transaction is not seen (a command is killed by then). */
const OURS_MS = COMMAND_TIMEOUT_MS + 5_000;

interface Watch {
  handle: StreamHandle;
  /**
   * Pids of our own writes in this namespace whose transactions are not seen yet → how many, and
   * until when they count (a long-lived helper commits several, even at once).
   */
  ours: Map<number, { writes: number; until: number }>;
}

/**
 * Watches one nft table (`inet NAME`, and `bridge NAME` alike) in the namespaces where it is kept: one `nft monitor` per
 * namespace ('' = the host's), telling our own writes (by the pid that commits them) from
 * anyone else's. A change made by someone else, or a watch that ended, is reported through
 * `onDrift`, so the table's owner stops trusting what it knows of it.
 */
export class NftWatch {
  private readonly watches = new Map<string, Watch>();

  constructor(
    private readonly linux: Linux,
    private readonly table: string,
    private readonly onDrift: (netns: string, why: string, changed: boolean) => void,
  ) {}

  /** Namespaces watched now ('' = the host's). */
  get namespaces(): string[] {
    return [...this.watches.keys()];
  }

  /** Starts watching `netns` unless it is watched already. */
  watch(netns: string): void {
    if (this.watches.has(netns)) return;
    const ours = new Map<number, { writes: number; until: number }>();
    const watch: Watch = {
      ours,
      handle: this.linux.monitorNft(
        (t) => this.heard(netns, watch, t),
        netns === '' ? undefined : netns,
        (error) => {
          if (this.watches.get(netns) !== watch) return;
          this.watches.delete(netns);
          this.onDrift(netns, `nft monitor ended (${error.message.slice(0, 200)})`, false);
        },
        // The host namespace's watch lives long and hears every table there: the events reader, which
        // reads a table written whole as one line (nft's monitor prints and parses each of its
        // objects: 8 ms of CPU per 500-rule write) and survives port security's sets, which kill
        // nft 1.0.6's monitor. A port namespace's watch, short-lived, starts faster with nft's own.
        { reader: netns === '' ? 'events' : 'nft' },
      ),
    };
    this.watches.set(netns, watch);
  }

  /** The pid of one of our writes in `netns`, known before it commits. */
  ours(netns: string, pid: number): void {
    const ours = this.watches.get(netns)?.ours;
    if (!ours) return;
    ours.set(pid, { writes: (ours.get(pid)?.writes ?? 0) + 1, until: Date.now() + OURS_MS });
  }

  /** Stops watching these namespaces (SIGTERM to exactly those children) and waits: a watch holds its namespace alive. */
  async end(namespaces: Iterable<string>): Promise<void> {
    const ending: Promise<void>[] = [];
    for (const netns of namespaces) {
      const watch = this.watches.get(netns);
      if (!watch) continue;
      this.watches.delete(netns);
      watch.handle.stop();
      ending.push(watch.handle.exited);
    }
    await Promise.all(ending);
  }

  close(): Promise<void> {
    return this.end(this.namespaces);
  }

  private heard(netns: string, watch: Watch, t: NftTransaction): void {
    if (this.watches.get(netns) !== watch) return;
    const now = Date.now();
    for (const [pid, { until }] of watch.ours) if (until < now) watch.ours.delete(pid);
    if (!t.tables.some((x) => (x.family === 'inet' || x.family === 'bridge') && x.table === this.table)) return;
    const own = watch.ours.get(t.pid);
    if (own) {
      if (--own.writes === 0) watch.ours.delete(t.pid);
      return;
    }
    this.onDrift(netns, `changed by process ${t.pid} (${t.comm})`, true);
  }
}
