import { NftCounter, NftTableView } from '@netloom/linux';
import { PortSecurityState, portSecurityState } from '@netloom/planner';

/**
 * This host's port-security table as the agent last listed or wrote it, so a pass need not list
 * it (a listing grows with the ports: 0.1–0.25 s at 1000). Trusted only while `nft monitor`
 * watches the table: anyone else's write, a failed write, a dead monitor or a resync drop it, and
 * the next read lists the table again. Also keeps the drop counters as last read.
 */
export class PortSecurityCache {
  private state: PortSecurityState | null | undefined;
  /** Bumped whenever the state is dropped: a listing or write begun before must not be kept. */
  private epoch = 0;
  /** Whether `nft monitor` hears the table's writers now. */
  watched = false;
  /** The drop counters as last read, by counter name. */
  readonly drops = new Map<string, number>();

  constructor(private readonly list: () => Promise<NftTableView | null>) {}

  forget(): void {
    this.state = undefined;
    this.epoch++;
  }

  /** The table (null: not there): as trusted, or listed now (and trusted from then on, unless dropped meanwhile). */
  async read(): Promise<PortSecurityState | null> {
    if (this.state !== undefined && this.watched) return this.state;
    const epoch = this.epoch;
    const table = await this.list();
    this.noteDrops(table?.counters ?? []);
    const state = portSecurityState(table);
    if (epoch === this.epoch) this.state = state;
    return state;
  }

  /** Call as a write starts; the function it returns, once the write succeeded, with what the write leaves. */
  writing(): (after: PortSecurityState | null) => void {
    const epoch = this.epoch;
    return (after) => {
      if (epoch === this.epoch) this.state = after;
    };
  }

  noteDrops(counters: readonly NftCounter[]): void {
    this.drops.clear();
    for (const c of counters) this.drops.set(c.name, c.packets);
  }
}
