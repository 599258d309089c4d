import { randomBytes } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { Client, ClientConfig } from 'pg';
import { DataSource, DataSourceOptions, EntityManager } from 'typeorm';
import { checkOwnership, MIGRATIONS_TABLE, Store, StoreRefused, WatchTopic } from './store';
import { unreachable } from './unreachable';

/** pg_advisory_xact_lock key every write transaction takes first: revisions are assigned in commit order. */
export const REVISION_LOCK = 0x6e6c7276; // 'nlrv'
/** pg_advisory_lock key held while migrations run, so replicas starting together migrate once. */
const MIGRATION_LOCK = 0x6e6c6d67; // 'nlmg'
/** NOTIFY channel: `<process tag>:<revision>` at the COMMIT of every write that recorded changes. */
export const CHANGES_CHANNEL = 'netloom_changes';
/** NOTIFY channel: `<process tag>` at the COMMIT of every stored agent ack (other replicas learn applied revisions and statuses). */
export const ACKS_CHANNEL = 'netloom_acks';
const CHANNELS: Record<WatchTopic, { channel: string; what: string }> = {
  changes: { channel: CHANGES_CHANNEL, what: 'change feed' },
  acks: { channel: ACKS_CHANNEL, what: 'replica sync' },
};
const RETRY_MS = 2_000;
/** While waiting, the same reason is logged again after this long. */
const REPEAT_LOG_MS = 30_000;
const WATCH_BACKOFF_MS = [250, 500, 1_000, 2_000, 5_000];
// A writer waits at most this long for another to commit (then UNAVAILABLE "database busy", like SQLite's busy timeout).
const SESSION_OPTIONS = '-c lock_timeout=5000';

/**
 * A PostgreSQL database that several controller processes may share. `open()` waits until the
 * server answers (logging why it does not), refuses a database that is not NetLoom's or is newer;
 * writers serialize on one transaction-level advisory lock, and each commit that recorded changes
 * sends a NOTIFY that the other processes' `watch` hears.
 */
export class PostgresStore extends Store {
  readonly shared = true;
  private readonly logger = new Logger('Store');
  /** Tells this process's own notifications apart. */
  private readonly tag = randomBytes(6).toString('hex');
  private readonly watchers = new Set<() => Promise<void>>();

  constructor(
    private readonly url: string,
    readonly description: string,
  ) {
    super();
  }

  private clientConfig(): ClientConfig {
    return { connectionString: this.url, application_name: 'netloom-controller', options: SESSION_OPTIONS, connectionTimeoutMillis: 5_000, keepAlive: true };
  }

  /**
   * Waits for the server as long as it takes (a database starting after the controller is
   * normal), logging why; a refusal that waiting cannot cure (authentication, a missing database,
   * a database of something else) ends the start at once.
   */
  async open(): Promise<void> {
    let waitingSince: number | undefined;
    let lastLog = 0;
    for (;;) {
      const client = new Client(this.clientConfig());
      client.on('error', () => undefined); // reported by the failing call below
      try {
        await client.connect();
        await this.checkSchema(client);
        if (waitingSince !== undefined) this.logger.warn(`PostgreSQL ${this.description} answers after ${Math.round((Date.now() - waitingSince) / 1000)} s; starting`);
        return;
      } catch (error) {
        if (error instanceof StoreRefused) throw error;
        if (!unreachable(error)) {
          throw new StoreRefused(`PostgreSQL ${this.description} refused the controller: ${(error as Error).message}`);
        }
        waitingSince ??= Date.now();
        if (Date.now() - lastLog >= REPEAT_LOG_MS) {
          lastLog = Date.now();
          this.logger.warn(`PostgreSQL ${this.description} is out of reach (${describe(error)}); not serving until it answers, retrying every ${RETRY_MS / 1000} s`);
        }
      } finally {
        await client.end().catch(() => undefined);
      }
      await new Promise((done) => setTimeout(done, RETRY_MS));
    }
  }

  private async checkSchema(client: Client): Promise<void> {
    const tables = (await client.query<{ name: string }>('SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema()')).rows.map(
      (r) => r.name,
    );
    const applied = tables.includes(MIGRATIONS_TABLE) ? (await client.query<{ name: string }>(`SELECT name FROM ${MIGRATIONS_TABLE}`)).rows.map((r) => r.name) : [];
    checkOwnership(`PostgreSQL ${this.description}`, 'a database', tables, applied);
  }

  options(): DataSourceOptions {
    return {
      type: 'postgres',
      url: this.url,
      applicationName: 'netloom-controller',
      connectTimeoutMS: 5_000,
      extra: { options: SESSION_OPTIONS, keepAlive: true },
    };
  }

  async migrate(dataSource: DataSource): Promise<void> {
    const runner = dataSource.createQueryRunner();
    try {
      await runner.query('SET lock_timeout = 0');
      await runner.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
      try {
        await dataSource.runMigrations({ transaction: 'all' });
      } finally {
        await runner.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
        await runner.query('RESET lock_timeout');
      }
    } finally {
      await runner.release();
    }
  }

  async beginWrite(em: EntityManager): Promise<void> {
    await em.query('SELECT pg_advisory_xact_lock($1)', [REVISION_LOCK]);
  }

  async announce(em: EntityManager, revision: number): Promise<void> {
    await em.query('SELECT pg_notify($1, $2)', [CHANGES_CHANNEL, `${this.tag}:${revision}`]);
  }

  async announceAck(em: EntityManager): Promise<void> {
    await em.query('SELECT pg_notify($1, $2)', [ACKS_CHANNEL, this.tag]);
  }

  recover(): void {
    // A failed transaction's connection goes back to the pool rolled back, or is dropped from it.
  }

  /** LISTEN on a connection of its own, made again (with backoff) whenever it is lost. */
  watch(wake: () => void, topic: WatchTopic = 'changes'): () => Promise<void> {
    const { channel, what } = CHANNELS[topic];
    let client: Client | undefined;
    let stopped = false;
    let failures = 0;
    let timer: NodeJS.Timeout | undefined;
    const connect = async (): Promise<void> => {
      timer = undefined;
      const next = new Client(this.clientConfig());
      client = next;
      let lost = false;
      const onLost = (error?: Error): void => {
        if (lost || stopped) return;
        lost = true;
        if (failures === 0) this.logger.warn(`${what}: lost the LISTEN connection to PostgreSQL${error ? ` (${describe(error)})` : ''}; polling until it is back`);
        failures++;
        void next.end().catch(() => undefined);
        timer = setTimeout(() => void connect(), WATCH_BACKOFF_MS[Math.min(failures, WATCH_BACKOFF_MS.length) - 1]);
        timer.unref();
      };
      next.on('error', onLost);
      next.on('end', () => onLost());
      next.on('notification', (message) => {
        const [tag] = (message.payload ?? '').split(':', 1);
        if (tag !== this.tag) wake();
      });
      try {
        await next.connect();
        await next.query(`LISTEN ${channel}`);
      } catch (error) {
        onLost(error as Error);
        return;
      }
      if (stopped) {
        await next.end().catch(() => undefined);
        return;
      }
      if (failures > 0) this.logger.warn(`${what}: listening to PostgreSQL again`);
      failures = 0;
      // Whatever was committed while nobody listened.
      wake();
    };
    void connect();
    const stop = async (): Promise<void> => {
      stopped = true;
      this.watchers.delete(stop);
      if (timer) clearTimeout(timer);
      await client?.end().catch(() => undefined);
    };
    this.watchers.add(stop);
    return stop;
  }

  async close(): Promise<void> {
    await Promise.all([...this.watchers].map((stop) => stop()));
  }
}

function describe(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  const message = error instanceof AggregateError ? (error.errors[0] as Error | undefined)?.message : (error as Error).message;
  return [typeof code === 'string' ? code : '', message ?? ''].filter(Boolean).join(': ');
}
