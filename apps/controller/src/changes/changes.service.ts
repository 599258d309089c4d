import { AsyncLocalStorage } from 'node:async_hooks';
import { BeforeApplicationShutdown, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { PubSub } from 'graphql-subscriptions';
import { DataSource, EntityManager } from 'typeorm';
import { ChangeOperation, newId } from '@netloom/model';
import { trace } from '@netloom/protocol';
import { AuditEntry } from '../audit/audit-entry.entity';
import { AuditContext, auditContext, AuditState, auditState } from '../audit/audit-context';
import { storeUnavailable } from '../common/graphql-errors';
import { Store } from '../database/store';
import { MetricsService } from '../observability/metrics.service';
import { Change } from './change.entity';
import { ChangeFeed, ChangeListener } from './change-feed';

export const RESOURCE_CHANGES = 'resourceChanges';
const INSERT_CHUNK = 200;
/** How often the feed reads other controllers' changes when no NOTIFY woke it (a shared store only). */
export const FEED_POLL_MS = 2_000;

/** A write transaction: the entity manager plus the change feed and audit entries it will commit. */
export class Tx {
  private nextRevision: number | undefined;
  readonly changes: Change[] = [];
  readonly audit: AuditEntry[] = [];

  /** `mutation`: the audit context of the mutation this write runs for; none, nothing is audited. */
  constructor(
    readonly em: EntityManager,
    private readonly mutation?: AuditContext,
  ) {}

  /** Whether this write is a mutation's, whose changes are audited. */
  get auditing(): boolean {
    return this.mutation !== undefined;
  }

  /**
   * An object's state for the audit log, taken now (so later changes to the object do not show);
   * null when this write is not a mutation's (nothing will be audited).
   */
  state(entity: (object & { name: string }) | null): AuditState | null {
    return this.mutation && entity ? auditState(this.em, entity) : null;
  }

  /**
   * Records that a resource changed, with its state before (null: created) and after (null:
   * deleted); the feed entry, and the audit entry when a mutation runs, commit (or roll back)
   * with the transaction.
   */
  async record(
    kind: string,
    id: string,
    operation: ChangeOperation,
    generation: number,
    before: AuditState | null,
    after: AuditState | null,
  ): Promise<number> {
    if (this.nextRevision === undefined) {
      const row = await this.em
        .createQueryBuilder(Change, 'c')
        .select('MAX(c.revision)', 'max')
        .getRawOne<{ max: number | null }>();
      this.nextRevision = (row?.max ?? 0) + 1;
    }
    const change = this.em.create(Change, { revision: this.nextRevision++, kind, id, operation, generation, createdAt: new Date() });
    this.changes.push(change);
    this.audited(kind, id, operation, before, after, change.revision);
    return change.revision;
  }

  /** Adds the audit entry of a change made by the running mutation (nothing outside one). */
  audited(kind: string, id: string, operation: ChangeOperation, before: AuditState | null, after: AuditState | null, revision: number | null = null): void {
    const mutation = this.mutation;
    if (!mutation) return;
    const { principal } = mutation;
    this.audit.push(
      Object.assign(new AuditEntry(), {
        id: newId(),
        at: new Date(),
        requestId: mutation.requestId,
        tokenId: principal.tokenId,
        tokenName: principal.name,
        tokenRole: principal.role,
        mutation: mutation.mutation,
        operation,
        kind,
        objectId: id,
        objectName: (after ?? before)?.name ?? '',
        revision,
        before: before?.row ?? null,
        after: after?.row ?? null,
      }),
    );
  }

  /**
   * Inserts many rows of one entity in statements of `chunk` rows, written as plain SQL from the
   * entity's metadata: TypeORM's insert builder costs more than the database does for wide rows
   * (it names, stores and substitutes every value as a parameter), and makes garbage to match.
   * Every column's value must be set (no defaults); transformers apply.
   */
  async insertRows<T extends object>(entity: new () => T, rows: T[], chunk = 500): Promise<void> {
    const { driver } = this.em.connection;
    const metadata = this.em.connection.getMetadata(entity);
    const columns = metadata.columns;
    const names = columns.map((column) => driver.escape(column.databaseName)).join(', ');
    for (let i = 0; i < rows.length; i += chunk) {
      const values: unknown[] = [];
      const tuples = rows.slice(i, i + chunk).map((row) => {
        const marks = columns.map((column) => {
          values.push(driver.preparePersistentValue(column.getEntityValue(row), column));
          return driver.createParameter(`p${values.length}`, values.length - 1);
        });
        return `(${marks.join(', ')})`;
      });
      await this.em.query(`INSERT INTO ${driver.escape(metadata.tablePath)} (${names}) VALUES ${tuples.join(', ')}`, values);
    }
  }

  /**
   * Inserts many rows of one entity in a few statements. The rows carry every value: nothing is
   * read back (TypeORM re-selects each inserted chunk on SQLite to fill in columns with defaults).
   */
  async insertMany<T extends object>(entity: new () => T, rows: T[]): Promise<void> {
    for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
      await this.em
        .createQueryBuilder()
        .insert()
        .into(entity)
        .values(rows.slice(i, i + INSERT_CHUNK))
        .updateEntity(false)
        .execute();
    }
  }
}

// The transaction of the dry run under way in this async context: writes join it.
const dryRunning = new AsyncLocalStorage<Tx>();

// What the writes of this async context committed, for `committedBy`.
const collecting = new AsyncLocalStorage<Change[]>();

/**
 * Runs `work` and says which changes the writes it made committed: its own, never those of
 * writes that committed meanwhile for other requests (what `wait` waits for and reports on).
 */
export async function committedBy<T>(work: () => Promise<T>): Promise<{ value: T; committed: Change[] }> {
  const committed: Change[] = [];
  const value = await collecting.run(committed, work);
  return { value, committed };
}
/** Thrown out of a dry run's transaction so that it rolls back. */
class Rollback extends Error {}

/**
 * The one door for writes. Every mutation runs in `transact`: one database transaction,
 * serialized with all other writes in this process (SQLite has one writer, and TypeORM shares
 * one better-sqlite3 connection, so overlapping transactions would mix) and, on a shared store,
 * with every other controller's (the store's `beginWrite` lock, held to COMMIT). Change-feed
 * entries get consecutive revisions inside it (`MAX+1`, read under that lock, so revisions are
 * gap-free and in commit order) and reach listeners and subscribers only after the commit,
 * through the feed, which also brings other controllers' changes.
 */
@Injectable()
export class ChangesService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('Changes');
  private tail: Promise<unknown> = Promise.resolve();
  readonly pubSub = new PubSub();
  private readonly feed = new ChangeFeed(
    (after, limit) => this.list(after, limit),
    (change) => this.pubSub.publish(RESOURCE_CHANGES, change),
  );
  private poller: NodeJS.Timeout | undefined;
  private unwatch: (() => Promise<void>) | undefined;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly store: Store,
    private readonly metrics: MetricsService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    this.feed.startAfter(await this.currentRevision());
    if (!this.store.shared) return;
    this.unwatch = this.store.watch(() => void this.feed.pull());
    // The safety net: a NOTIFY lost with a connection is found by revision.
    this.poller = setInterval(() => void this.feed.pull(), FEED_POLL_MS);
    this.poller.unref();
  }

  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.poller);
    await this.unwatch?.();
  }

  /** The newest revision delivered to this process's listeners (every revision up to it was). */
  get lastRevision(): number {
    return this.feed.revision;
  }

  /**
   * Calls `listener` with every committed change, this process's and other controllers', in
   * revision order, each once (the contract: `ChangeListener`).
   */
  onCommit(listener: ChangeListener): void {
    this.feed.onCommit(listener);
  }

  transact<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
    // Inside a dry run, a write joins its transaction (queued behind it, it would wait forever).
    const dry = dryRunning.getStore();
    if (dry) return work(dry);
    const mutation = auditContext();
    const collector = collecting.getStore();
    const run = this.tail.then(async () => {
      let tx: Tx | undefined;
      let result: T;
      const timer = this.metrics.commitSeconds.startTimer();
      try {
        result = await this.dataSource.transaction(async (em) => {
          await this.store.beginWrite(em);
          tx = new Tx(em, mutation);
          const value = await work(tx);
          await tx.insertMany(Change, tx.changes);
          await tx.insertRows(AuditEntry, tx.audit);
          if (tx.changes.length) await this.store.announce(em, tx.changes[tx.changes.length - 1].revision);
          return value;
        });
      } catch (error) {
        // Whatever failed (a check, a constraint, a full disk at COMMIT), the next write starts clean.
        this.store.recover(this.dataSource);
        const unavailable = storeUnavailable(error);
        if (!unavailable) throw error;
        // One line for the operator instead of a stack per refused write.
        this.logger.warn(`a write was not taken: ${(error as Error).message}`);
        throw unavailable;
      }
      timer();
      const committed = tx?.changes ?? [];
      if (committed.length) trace('controller.commit', committed[committed.length - 1].revision);
      await this.feed.committed(committed);
      collector?.push(...committed);
      return result;
    });
    this.tail = run.catch(() => undefined);
    return run;
  }

  /**
   * Runs `work` in a write transaction (serialized as `transact`'s) that is then rolled back
   * whatever happens: every `transact` called from inside `work` joins it, nothing is published,
   * audited or kept (IPAM allocations included). For the `plan` query.
   */
  dryRun<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
    const run = this.tail.then(async () => {
      let result: { value: T } | undefined;
      try {
        await this.dataSource.transaction(async (em) => {
          await this.store.beginWrite(em);
          const tx = new Tx(em);
          result = { value: await dryRunning.run(tx, () => work(tx)) };
          throw new Rollback('dry run');
        });
      } catch (error) {
        this.store.recover(this.dataSource);
        if (!(error instanceof Rollback)) throw storeUnavailable(error) ?? error;
      }
      return result!.value;
    });
    this.tail = run.catch(() => undefined);
    return run;
  }

  /**
   * Runs `read` between writes when the store has one connection (SQLite): a read there sees the
   * rows of a transaction still open on it, and a dry run's are never committed. The dispatcher
   * reads through this, so what a `plan` made for a moment never reaches an agent. On a shared
   * store every transaction has its own connection and `read` runs at once.
   */
  betweenWrites<T>(read: () => Promise<T>): Promise<T> {
    if (this.store.shared) return read();
    const run = this.tail.then(read);
    this.tail = run.catch(() => undefined);
    return run;
  }

  async currentRevision(): Promise<number> {
    const row = await this.dataSource
      .getRepository(Change)
      .createQueryBuilder('c')
      .select('MAX(c.revision)', 'max')
      .getRawOne<{ max: number | null }>();
    return row?.max ?? 0;
  }

  /** The feed after `afterRevision`, oldest first. */
  list(afterRevision: number, limit: number, kinds?: string[]): Promise<Change[]> {
    const qb = this.dataSource
      .getRepository(Change)
      .createQueryBuilder('c')
      .where('c.revision > :after', { after: afterRevision });
    if (kinds?.length) qb.andWhere('c.kind IN (:...kinds)', { kinds });
    return qb.orderBy('c.revision', 'ASC').limit(limit).getMany();
  }
}
