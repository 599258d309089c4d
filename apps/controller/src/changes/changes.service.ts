import { Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { PubSub } from 'graphql-subscriptions';
import { DataSource, EntityManager } from 'typeorm';
import { ChangeOperation } from '@netloom/model';
import { EmbeddedStore } from '../database/embedded-store';
import { Change } from './change.entity';

export const RESOURCE_CHANGES = 'resourceChanges';
const INSERT_CHUNK = 200;

/** A write transaction: the entity manager plus the change feed entries it will commit. */
export class Tx {
  private nextRevision: number | undefined;
  readonly changes: Change[] = [];

  constructor(readonly em: EntityManager) {}

  /** Records that a resource changed; the entry commits (or rolls back) with the transaction. */
  async record(kind: string, id: string, operation: ChangeOperation, generation: number): Promise<number> {
    if (this.nextRevision === undefined) {
      const row = await this.em
        .createQueryBuilder(Change, 'c')
        .select('MAX(c.revision)', 'max')
        .getRawOne<{ max: number | null }>();
      this.nextRevision = (row?.max ?? 0) + 1;
    }
    const change = this.em.create(Change, { revision: this.nextRevision++, kind, id, operation, generation, createdAt: new Date() });
    this.changes.push(change);
    return change.revision;
  }

  /** Inserts many rows of one entity in a few statements. */
  async insertMany<T extends object>(entity: new () => T, rows: T[]): Promise<void> {
    for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
      await this.em.insert(entity, rows.slice(i, i + INSERT_CHUNK));
    }
  }
}

/**
 * The one door for writes. Every mutation runs in `transact`: one database transaction,
 * serialized with all other writes in this process (SQLite has one writer, and TypeORM shares
 * one better-sqlite3 connection, so overlapping transactions would mix). Change-feed entries get
 * consecutive revisions inside it and are published only after the commit.
 */
@Injectable()
export class ChangesService implements OnApplicationBootstrap {
  private tail: Promise<unknown> = Promise.resolve();
  private readonly listeners: ((changes: Change[]) => void)[] = [];
  private committedRevision = 0;
  readonly pubSub = new PubSub();

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly store: EmbeddedStore,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    this.committedRevision = await this.currentRevision();
  }

  /** The newest committed revision (kept in memory; read once at start). */
  get lastRevision(): number {
    return this.committedRevision;
  }

  /** Calls `listener` after every commit that changed resources, with those changes. */
  onCommit(listener: (changes: Change[]) => void): void {
    this.listeners.push(listener);
  }

  transact<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
    const run = this.tail.then(async () => {
      let tx: Tx | undefined;
      let result: T;
      try {
        result = await this.dataSource.transaction(async (em) => {
          tx = new Tx(em);
          const value = await work(tx);
          await tx.insertMany(Change, tx.changes);
          return value;
        });
      } catch (error) {
        // Whatever failed (a check, a constraint, a full disk at COMMIT), the next write starts clean.
        this.store.recover(this.dataSource);
        throw error;
      }
      const changes = tx?.changes ?? [];
      if (changes.length) {
        this.committedRevision = Math.max(this.committedRevision, changes[changes.length - 1].revision);
        for (const listener of this.listeners) listener(changes);
      }
      for (const change of changes) {
        await this.pubSub.publish(RESOURCE_CHANGES, change);
      }
      return result;
    });
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
