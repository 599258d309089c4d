import type { LinkStats } from '@netloom/linux';
import type { PortCountersEntry, PortCountersMessage } from '@netloom/protocol';
import type { Log } from './log';

/**
 * Each port's counters from one dump of the host namespace's links, turned to the PORT's point of
 * view: the host end's rx is what the port sent (its tx), and the other way round. A port whose
 * host end is not in the dump (not made yet) is left out; `hostEnd` names it (`Names.veth`).
 */
export function portCounters(
  portIds: readonly string[],
  stats: readonly LinkStats[],
  hostEnd: (portId: string) => string,
  spoofDrops: ReadonlyMap<string, number>,
): PortCountersEntry[] {
  const byName = new Map(stats.map((s) => [s.ifname, s]));
  const out: PortCountersEntry[] = [];
  for (const portId of portIds) {
    const s = byName.get(hostEnd(portId));
    if (!s) continue;
    const dropped = spoofDrops.get(portId);
    out.push({
      portId,
      rxPackets: s.tx.packets,
      rxBytes: s.tx.bytes,
      rxDropped: s.tx.dropped,
      rxErrors: s.tx.errors,
      txPackets: s.rx.packets,
      txBytes: s.rx.bytes,
      txDropped: s.rx.dropped,
      txErrors: s.rx.errors,
      ...(dropped === undefined ? {} : { droppedSpoofedPackets: dropped }),
    });
  }
  return out;
}

const sameCounters = (a: PortCountersEntry, b: PortCountersEntry): boolean =>
  a.rxPackets === b.rxPackets &&
  a.rxBytes === b.rxBytes &&
  a.rxDropped === b.rxDropped &&
  a.rxErrors === b.rxErrors &&
  a.txPackets === b.txPackets &&
  a.txBytes === b.txBytes &&
  a.txDropped === b.txDropped &&
  a.txErrors === b.txErrors &&
  a.droppedSpoofedPackets === b.droppedSpoofedPackets;

/**
 * What the controller was last sent on this channel, so a message carries only the ports whose
 * counters moved (an idle port costs nothing) and the ports gone since.
 */
export class SentCounters {
  private sent = new Map<string, PortCountersEntry>();

  /** The message for `entries`; `full` sends every port (the controller forgets the rest). */
  message(entries: readonly PortCountersEntry[], full: boolean): PortCountersMessage {
    const next = new Map(entries.map((e) => [e.portId, e]));
    const ports = full ? [...entries] : entries.filter((e) => !this.sent.has(e.portId) || !sameCounters(this.sent.get(e.portId)!, e));
    const removed = full ? [] : [...this.sent.keys()].filter((id) => !next.has(id));
    this.sent = next;
    return { type: 'port-counters', full, ports, removed };
  }
}

export interface CountersReporterOptions {
  /** How often counters are read and sent while the controller wants them (`--counters-ms`). */
  everyMs: number;
  /** One read of every port's counters (undefined: nothing desired yet). */
  read: () => Promise<PortCountersEntry[] | undefined>;
  /** Sends on the channel the request came by; false when it is not open. */
  send: (message: PortCountersMessage) => boolean;
  log: Log;
  /** How long each read took (for the metrics). */
  onRead?: (seconds: number) => void;
}

/**
 * Reads port counters every few seconds and sends what moved, while the controller on the open
 * channel asked for them (`counters-request`); a new channel waits for its own request.
 */
export class CountersReporter {
  private readonly sent = new SentCounters();
  private wanted = false;
  private full = true;
  private reading = false;
  private timer: NodeJS.Timeout | undefined;
  /** The last read failed (logged once until one works). */
  private failing = false;

  constructor(private readonly options: CountersReporterOptions) {}

  /** The controller asked: the next message is full, and it goes now. */
  requested(): void {
    this.wanted = true;
    this.full = true;
    clearInterval(this.timer);
    this.timer = setInterval(() => void this.tick(), this.options.everyMs);
    void this.tick();
  }

  /** A new channel (or none): nothing is sent until it asks. */
  stop(): void {
    this.wanted = false;
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async tick(): Promise<void> {
    if (!this.wanted || this.reading) return;
    this.reading = true;
    try {
      const started = performance.now();
      const entries = await this.options.read();
      this.options.onRead?.((performance.now() - started) / 1_000);
      if (this.failing) this.options.log('reading port counters works again');
      this.failing = false;
      if (!entries || !this.wanted) return;
      const message = this.sent.message(entries, this.full);
      // Sent even when nothing moved: its arrival says the counters are current. Not sent: the next one is full.
      this.full = !this.options.send(message);
    } catch (error) {
      if (!this.failing) this.options.log(`reading port counters: ${error instanceof Error ? error.message : String(error)}`, { level: 'warn' });
      this.failing = true;
    } finally {
      this.reading = false;
    }
  }
}
