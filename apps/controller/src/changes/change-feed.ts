import { Logger } from '@nestjs/common';
import { Change } from './change.entity';

/**
 * Receives committed changes. Contract (for every listener of one process):
 * - every committed change, whichever controller process committed it, is passed exactly once;
 * - in revision order, across calls too: a call holds revisions greater than every earlier call's;
 * - only after its transaction committed; `lastRevision` already includes the call's changes;
 * - this process's own commits come right after their COMMIT (a mutation answers after its
 *   listeners ran), preceded by any earlier revisions not yet passed; other processes' commits
 *   come when they are read from the database (NOTIFY, or the periodic poll), so a call may hold
 *   several transactions, and one large transaction of another process may be split over calls;
 * - called synchronously, one call at a time: a listener that needs to do slow work queues it;
 *   one that throws is logged and does not stop the others or the feed.
 */
export type ChangeListener = (changes: Change[]) => void;

/** Reads committed changes after a revision, oldest first, at most `limit`. */
export type ChangeReader = (afterRevision: number, limit: number) => Promise<Change[]>;

const PAGE = 1000;

/**
 * The change feed of one process: delivers changes to listeners (and `publish`, for GraphQL
 * subscriptions) in revision order, each once, whether this process committed them or another
 * process did. All deliveries go through one queue; `delivered` only grows.
 */
export class ChangeFeed {
  private readonly logger = new Logger('ChangeFeed');
  private readonly listeners: ChangeListener[] = [];
  private queue: Promise<void> = Promise.resolve();
  private pullQueued = false;
  private failing = false;
  private delivered = 0;

  constructor(
    private readonly read: ChangeReader,
    private readonly publish: (change: Change) => Promise<void>,
  ) {}

  /** The newest revision delivered to listeners. */
  get revision(): number {
    return this.delivered;
  }

  /** Starts the feed after `revision` (what was committed before this process started is not delivered). */
  startAfter(revision: number): void {
    this.delivered = Math.max(this.delivered, revision);
  }

  onCommit(listener: ChangeListener): void {
    this.listeners.push(listener);
  }

  /**
   * This process committed `changes` (consecutive revisions): delivers them, after any earlier
   * revision not delivered yet. If that earlier part cannot be read now, the next pull delivers
   * both (the commit stands either way).
   */
  committed(changes: Change[]): Promise<void> {
    if (!changes.length) return this.queue;
    return this.enqueue(async () => {
      const first = changes[0].revision;
      if (first > this.delivered + 1 && !(await this.catchUp(first - 1))) return;
      await this.deliver(changes.filter((c) => c.revision > this.delivered));
    });
  }

  /** Another process may have committed: reads and delivers what is new. Calls made while one waits to run merge into it. */
  pull(): Promise<void> {
    if (this.pullQueued) return this.queue;
    this.pullQueued = true;
    return this.enqueue(async () => {
      this.pullQueued = false;
      await this.catchUp(Number.MAX_SAFE_INTEGER);
    });
  }

  private enqueue(step: () => Promise<void>): Promise<void> {
    const run = this.queue.then(step);
    this.queue = run.catch((error: unknown) => this.logger.error(`change feed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`));
    return this.queue;
  }

  /** Reads and delivers the committed changes up to `upTo`; false when the store could not be read. */
  private async catchUp(upTo: number): Promise<boolean> {
    for (;;) {
      const limit = Math.min(PAGE, upTo - this.delivered);
      if (limit <= 0) return true;
      let page: Change[];
      try {
        page = await this.read(this.delivered, limit);
      } catch (error) {
        if (!this.failing) this.logger.warn(`change feed: cannot read the changes of other controllers (${(error as Error).message}); retrying`);
        this.failing = true;
        return false;
      }
      if (this.failing) this.logger.warn('change feed: reading changes again'); // warn: the level operators see, ending the outage the warning began
      this.failing = false;
      const fresh = page.filter((c) => c.revision > this.delivered && c.revision <= upTo);
      await this.deliver(fresh);
      if (page.length < limit || !fresh.length) return true;
    }
  }

  /** To the listeners, then to `publish`; `changes` are in revision order, all after `delivered`. */
  private async deliver(changes: Change[]): Promise<void> {
    if (!changes.length) return;
    this.delivered = changes[changes.length - 1].revision;
    for (const listener of this.listeners) {
      try {
        listener(changes);
      } catch (error) {
        this.logger.error(`a change listener failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      }
    }
    for (const change of changes) await this.publish(change);
  }
}
