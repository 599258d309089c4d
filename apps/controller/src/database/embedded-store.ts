import { chmodSync, existsSync, mkdirSync, openSync, readSync, closeSync, readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { Logger } from '@nestjs/common';
import Database from 'better-sqlite3';
import { DataSource, DataSourceOptions } from 'typeorm';
import type { AbstractSqliteDriver } from 'typeorm/driver/sqlite-abstract/AbstractSqliteDriver';
import { checkOwnership, MIGRATIONS_TABLE, Store, StoreRefused } from './store';

const SQLITE_HEADER = 'SQLite format 3\0';
const FILE_MODE = 0o600;
const DIR_MODE = 0o700;

/**
 * The embedded SQLite store of one controller process. `open()` runs before TypeORM touches the
 * file: it takes a lock held for the process's lifetime (a second controller on the same file is
 * refused), creates a database only where none exists, refuses an empty, foreign, newer or damaged
 * file, and keeps the data dir 0700 and the files 0600. Writes need no lock of their own: this
 * process is the only writer, and `ChangesService` serializes its transactions.
 */
export class EmbeddedStore extends Store {
  readonly shared = false;
  private readonly logger = new Logger('Store');
  private lock: Database.Database | undefined;

  constructor(
    /** Tightened to 0700: it is the controller's own. */
    private readonly dataDir: string,
    readonly file: string,
  ) {
    super();
  }

  get description(): string {
    return this.file;
  }

  open(): Promise<void> {
    this.openSync();
    return Promise.resolve();
  }

  private openSync(): void {
    mkdirSync(this.dataDir, { recursive: true, mode: DIR_MODE });
    chmodSync(this.dataDir, DIR_MODE);
    // A --database outside the data dir: its folder is created private, an existing one left alone.
    mkdirSync(dirname(this.file), { recursive: true, mode: DIR_MODE });
    this.lock = takeLock(`${this.file}.lock`, this.file);
    try {
      if (existsSync(this.file)) checkExisting(this.file);
      else createEmpty(this.file);
      for (const path of [this.file, `${this.file}-wal`, `${this.file}-shm`]) {
        if (existsSync(path)) chmodSync(path, FILE_MODE);
      }
    } catch (error) {
      this.release();
      throw error;
    }
  }

  /** TypeORM's options for this file (open() first). */
  options(): DataSourceOptions {
    return {
      type: 'better-sqlite3',
      database: this.file,
      prepareDatabase: (db: Database.Database) => {
        db.pragma('journal_mode = WAL');
        db.pragma('foreign_keys = ON');
        db.pragma('busy_timeout = 5000');
        db.pragma('cache_size = -32768');
      },
    };
  }

  /**
   * After a failed transaction. SQLite may have rolled it back by itself (SQLITE_FULL or an I/O
   * error at COMMIT) or kept it open (SQLITE_BUSY at COMMIT), while TypeORM's runner still counts
   * it as open when its own ROLLBACK failed: every later transaction would then be a savepoint
   * inside one that never commits. Make the connection and TypeORM agree again: nothing open.
   */
  recover(dataSource: DataSource): void {
    const driver = dataSource.driver as AbstractSqliteDriver;
    const db = driver.databaseConnection as Database.Database | undefined;
    if (!db?.open) return;
    if (db.inTransaction) db.exec('ROLLBACK');
    if (driver.queryRunner?.isTransactionActive) {
      // The runner's transaction depth cannot be reset from outside: start over with a new runner
      // on the same connection (TypeORM makes one when none is cached).
      this.logger.warn('a failed transaction left the database runner inside it; started a fresh runner');
      driver.queryRunner = undefined;
    }
  }

  async migrate(dataSource: DataSource): Promise<void> {
    await dataSource.runMigrations();
  }

  beginWrite(): Promise<void> {
    return Promise.resolve();
  }

  announce(): Promise<void> {
    return Promise.resolve();
  }

  announceAck(): Promise<void> {
    return Promise.resolve();
  }

  watch(): () => Promise<void> {
    return () => Promise.resolve();
  }

  close(): Promise<void> {
    this.release();
    return Promise.resolve();
  }

  private release(): void {
    this.lock?.close();
    this.lock = undefined;
  }
}

/**
 * An SQLite file of its own in EXCLUSIVE locking mode, written once: the kernel's lock on it lasts
 * as long as the connection, so until this process ends (kill -9 included, the kernel drops it).
 */
function takeLock(path: string, file: string): Database.Database {
  const db = new Database(path, { timeout: 0 });
  try {
    chmodSync(path, FILE_MODE);
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE');
    db.exec('CREATE TABLE IF NOT EXISTS holder (id INTEGER PRIMARY KEY, pid INTEGER NOT NULL)');
    db.prepare('INSERT OR REPLACE INTO holder (id, pid) VALUES (1, ?)').run(process.pid);
    db.exec('COMMIT');
    return db;
  } catch (error) {
    db.close();
    if ((error as { code?: string }).code === 'SQLITE_BUSY') {
      const pid = lockHolder(path);
      throw new StoreRefused(
        `${file} is in use by another NetLoom controller${pid ? ` (pid ${pid})` : ''}: one controller per embedded database ` +
          '(several controllers sharing one database need PostgreSQL: --database postgres://…); stop that one, or start this one with another --data-dir',
      );
    }
    throw error;
  }
}

/** The pid holding a POSIX lock on `path`, from /proc/locks (best effort: undefined when unknown). */
function lockHolder(path: string): number | undefined {
  try {
    const inode = statSync(path).ino;
    for (const line of readFileSync('/proc/locks', 'utf8').split('\n')) {
      const fields = line.trim().split(/\s+/);
      if (fields[1] !== 'POSIX') continue;
      const [pid, where] = [Number(fields[4]), fields[5] ?? ''];
      if (Number(where.split(':')[2]) === inode && pid !== process.pid) return pid;
    }
  } catch {
    // no /proc/locks: the message goes without the pid
  }
  return undefined;
}

function createEmpty(file: string): void {
  const db = new Database(file);
  try {
    chmodSync(file, FILE_MODE);
    db.pragma('journal_mode = WAL'); // writes the header: the file is a database from now on
  } finally {
    db.close();
  }
}

/** Refuses what is not an intact NetLoom database this version knows. */
function checkExisting(file: string): void {
  const size = statSync(file).size;
  if (size === 0) {
    throw new StoreRefused(`${file} is empty (0 bytes), not a NetLoom database; refusing to start on it (move it away to start anew)`);
  }
  if (readHeader(file) !== SQLITE_HEADER) {
    throw new StoreRefused(`${file} is not an SQLite database; refusing to start on it (point --data-dir elsewhere)`);
  }
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { fileMustExist: true, timeout: 0 });
    const problems = (db.pragma('integrity_check(5)') as { integrity_check: string }[]).map((r) => r.integrity_check);
    if (problems.length !== 1 || problems[0] !== 'ok') {
      throw new StoreRefused(`${file} is damaged (integrity check: ${problems.join('; ')}); restore it from a backup`);
    }
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").all() as { name: string }[]).map(
      (r) => r.name,
    );
    const applied = tables.includes(MIGRATIONS_TABLE)
      ? (db.prepare(`SELECT name FROM ${MIGRATIONS_TABLE}`).all() as { name: string }[]).map((r) => r.name)
      : [];
    checkOwnership(file, 'an SQLite database', tables, applied);
  } catch (error) {
    if (error instanceof StoreRefused) throw error;
    const code = (error as { code?: string }).code ?? '';
    if (code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB') {
      throw new StoreRefused(`${file} is damaged (${(error as Error).message}); restore it from a backup`);
    }
    throw error;
  } finally {
    db?.close();
  }
}

function readHeader(file: string): string {
  const buffer = Buffer.alloc(SQLITE_HEADER.length);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, buffer, 0, buffer.length, 0);
  } finally {
    closeSync(fd);
  }
  return buffer.toString('latin1');
}
