import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { badInput, idFloor } from '@netloom/model';
import { ChangesService } from '../changes/changes.service';
import { Connection, ConnectionArgs, paginate } from '../common/pagination';
import { ControllerConfig } from '../config';
import { CONTROLLER_CONFIG } from '../database/tokens';
import { MetricsService } from '../observability/metrics.service';
import { AuditEntry, AuditFilter } from './audit-entry.entity';

/** How often the retention prune runs (and once right after start). */
export const AUDIT_PRUNE_INTERVAL_MS = 10 * 60_000;
/** Rows one prune transaction removes: writes queue behind it for no longer than that takes. */
export const AUDIT_PRUNE_BATCH = 500;
const DAY_MS = 86_400_000;
/**
 * How much earlier than `since` the id bound of that filter starts: an entry's id and its time are
 * read from one clock a moment apart (the id first), so its id's time is never much earlier.
 */
const SINCE_ID_SLACK_MS = 1_000;

/** Reads the audit log, and keeps it within the retention. The entries are written by `ChangesService.transact`. */
@Injectable()
export class AuditService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('Audit');
  private timer: NodeJS.Timeout | undefined;
  private pruning: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly changes: ChangesService,
    private readonly metrics: MetricsService,
    @Inject(CONTROLLER_CONFIG) private readonly config: ControllerConfig,
  ) {}

  /** Newest first; each filter narrows, and each has an index that keeps the newest-first walk short. */
  list(filter: AuditFilter | undefined | null, args: ConnectionArgs): Promise<Connection<AuditEntry>> {
    const qb = this.dataSource.getRepository(AuditEntry).createQueryBuilder('a');
    if (filter?.kind) qb.andWhere('a.kind = :kind', { kind: filter.kind });
    if (filter?.objectId) qb.andWhere('a.objectId = :objectId', { objectId: filter.objectId });
    if (filter?.tokenName) qb.andWhere('a.tokenName = :tokenName', { tokenName: filter.tokenName });
    if (filter?.since) {
      // The DateTime scalar turns any text into a Date, an invalid one included.
      if (Number.isNaN(filter.since.getTime())) throw badInput('since must be an ISO 8601 date and time, e.g. 2026-12-03T10:00:00Z', 'since');
      // The id bound keeps the walk on the same (filter, id) index range; the time makes it exact.
      qb.andWhere('a.id >= :floor', { floor: idFloor(filter.since.getTime() - SINCE_ID_SLACK_MS) });
      qb.andWhere('a.at >= :since', { since: filter.since.toISOString() });
    }
    return paginate(qb, 'a', args, true);
  }

  onApplicationBootstrap(): void {
    if (!this.config.auditRetentionDays) return;
    const run = (): void => {
      this.pruning = this.pruning.then(() => this.prune());
    };
    setImmediate(run);
    this.timer = setInterval(run, AUDIT_PRUNE_INTERVAL_MS);
    this.timer.unref();
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.pruning;
  }

  /**
   * Removes the entries older than the retention, oldest first, in transactions of at most
   * AUDIT_PRUNE_BATCH rows, so mutations take turns with it. A failure waits for the next pass.
   */
  async prune(): Promise<void> {
    const cutoff = new Date(Date.now() - this.config.auditRetentionDays * DAY_MS).toISOString();
    let removed = 0;
    let batches = 0;
    try {
      while (!this.stopped) {
        const last = await this.changes.transact(async ({ em }) => {
          const rows = await em
            .createQueryBuilder(AuditEntry, 'a')
            .select('a.id', 'id')
            .where('a.at < :cutoff', { cutoff })
            .orderBy('a.at', 'ASC')
            .limit(AUDIT_PRUNE_BATCH)
            .getRawMany<{ id: string }>();
          if (rows.length) await em.delete(AuditEntry, rows.map((row) => row.id));
          return rows.length;
        });
        if (last) {
          removed += last;
          batches++;
          this.metrics.auditPruneBatches.observe(last);
        }
        if (last < AUDIT_PRUNE_BATCH) break;
      }
    } catch (error) {
      this.logger.warn(`pruning the audit log failed, the next pass tries again: ${(error as Error).message}`);
    }
    this.metrics.auditPrunePasses.inc();
    if (removed) this.logger.log(`pruned ${removed} audit entries older than ${this.config.auditRetentionDays} days in ${batches} batches`);
  }
}
