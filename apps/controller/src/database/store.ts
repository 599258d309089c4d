import { OnApplicationShutdown } from '@nestjs/common';
import { DataSource, DataSourceOptions, EntityManager } from 'typeorm';
import { MIGRATIONS } from '@netloom/migrations';

/** TypeORM's own bookkeeping table. */
export const MIGRATIONS_TABLE = 'migrations';

/** What `watch` hears of other processes: committed changes (the change feed), or agents' acks stored (the replica sync). */
export type WatchTopic = 'changes' | 'acks';

/** The store cannot be used as it is: the message says why and what to do. */
export class StoreRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreRefused';
  }
}

/**
 * What the controller needs from its database besides TypeORM, one implementation per kind:
 * `EmbeddedStore` (SQLite, one controller process) and `PostgresStore` (several may share it).
 * `ChangesService` is the only caller of the write-side methods.
 */
export abstract class Store implements OnApplicationShutdown {
  /** Whether other controller processes may write to the same database (the change feed then listens and polls). */
  abstract readonly shared: boolean;
  /** What the logs call it (never a password). */
  abstract readonly description: string;

  /** Makes the database ready for TypeORM: called once, before `options()`. */
  abstract open(): Promise<void>;

  /** TypeORM's driver options; entities and migrations are the same for every store (`migrate` runs them). */
  abstract options(): DataSourceOptions;

  /** Brings the schema up to date on a freshly initialized DataSource. */
  abstract migrate(dataSource: DataSource): Promise<void>;

  /** The first statement of every write transaction: writers of every process take turns from here to COMMIT. */
  abstract beginWrite(em: EntityManager): Promise<void>;

  /** The last statement of a write transaction that recorded changes up to `revision`: tells other processes at COMMIT. */
  abstract announce(em: EntityManager, revision: number): Promise<void>;

  /** The last statement of a write transaction that stored an agent's ack: tells other processes at COMMIT. */
  abstract announceAck(em: EntityManager): Promise<void>;

  /** After a failed write transaction: leaves nothing open for the next one. */
  abstract recover(dataSource: DataSource): void;

  /**
   * Calls `wake` whenever another process may have committed changes (`topic` 'acks': stored an
   * agent's ack), and once whenever a lost watch is back, since it may have missed some. Returns
   * what stops watching. Never calls `wake` when the store is not `shared`.
   */
  abstract watch(wake: () => void, topic?: WatchTopic): () => Promise<void>;

  /** Releases what `open()` took; called once at shutdown. */
  abstract close(): Promise<void>;

  onApplicationShutdown(): Promise<void> {
    return this.close();
  }
}

/**
 * Refuses a database that is not NetLoom's or was written by a newer version (pure: `where`
 * names the database, `what` says what it is, `tables` are its tables, `applied` the migrations
 * its migrations table lists (empty when it has none)).
 */
export function checkOwnership(where: string, what: string, tables: string[], applied: string[]): void {
  // A database with no tables (a first start stopped before its migrations) has nothing to lose.
  if (tables.length === 0) return;
  if (!tables.includes(MIGRATIONS_TABLE)) {
    const shown = tables.slice(0, 5).join(', ') + (tables.length > 5 ? ', …' : '');
    throw new StoreRefused(`${where} is ${what} of something else (tables: ${shown}), not NetLoom's; refusing to start on it`);
  }
  const known = new Set(MIGRATIONS.map((m) => m.name));
  const unknown = applied.filter((name) => !known.has(name));
  if (unknown.length) {
    throw new StoreRefused(`${where} was written by a newer NetLoom (migrations ${unknown.join(', ')} unknown here); start that version`);
  }
}
