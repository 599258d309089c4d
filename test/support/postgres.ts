/**
 * A throwaway PostgreSQL cluster for tests and benchmarks: initdb into a temporary directory, one
 * postmaster run as an unprivileged user (nobody, when the test runs as root), listening only on
 * a Unix socket in that directory (nothing on the network, no port to collide on). The binaries
 * come from the OS package (/usr/lib/postgresql/<version>/bin). Imports no jest.
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { endChild } from '@netloom/simhosts';

const ROOT = '/usr/lib/postgresql';
const RUN_AS = 'nobody';
/** The role the controller logs in as (password authentication, like a real deployment). */
export const APP_ROLE = 'netloom';
// Test clusters favour speed: a crash of the postmaster keeps what was written (the OS has it);
// only a crash of the machine would not.
const SETTINGS = ['fsync=off', 'full_page_writes=off', 'shared_buffers=16MB', 'max_connections=100', 'listen_addresses='];

/** The newest PostgreSQL's bin directory, or undefined when none is installed. */
export function postgresBin(): string | undefined {
  if (!existsSync(ROOT)) return undefined;
  const versions = readdirSync(ROOT)
    .filter((v) => existsSync(join(ROOT, v, 'bin', 'postgres')))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length ? join(ROOT, versions[0], 'bin') : undefined;
}

/** A cluster in a temporary directory; `destroy()` removes everything (call it in a finally / afterAll). */
export class PostgresCluster {
  private child: ChildProcess | undefined;
  private readonly password = randomBytes(12).toString('hex');
  private databases = 0;

  private constructor(
    readonly bin: string,
    /** The temporary directory: data/, the socket, postgres.log. */
    readonly dir: string,
  ) {}

  /** initdb + start; the returned cluster answers on its socket. Removes what it made if that fails. */
  static async create(): Promise<PostgresCluster> {
    const bin = postgresBin();
    if (!bin) throw new Error(`no PostgreSQL under ${ROOT}: install the postgresql package (npm run setup does)`);
    const dir = mkdtempSync(join(tmpdir(), 'netloom-pg-'));
    const cluster = new PostgresCluster(bin, dir);
    try {
      cluster.ownedByRunner(dir);
      cluster.run('initdb', ['-D', cluster.dataDir, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C.UTF-8', '--no-sync', '--no-instructions']);
      // The superuser by trust (this test drives it), the application role by password, both on the socket only.
      writeFileSync(join(cluster.dataDir, 'pg_hba.conf'), `local all postgres trust\nlocal all all scram-sha-256\n`);
      cluster.ownedByRunner(join(cluster.dataDir, 'pg_hba.conf'));
      await cluster.start();
      await cluster.admin(`CREATE ROLE ${APP_ROLE} LOGIN PASSWORD '${cluster.password}'`);
      return cluster;
    } catch (error) {
      await cluster.destroy();
      throw error;
    }
  }

  get dataDir(): string {
    return join(this.dir, 'data');
  }

  get logFile(): string {
    return join(this.dir, 'postgres.log');
  }

  /** The postmaster's pid while it runs. */
  get pid(): number | undefined {
    const child = this.child;
    return child && child.exitCode === null && child.signalCode === null ? child.pid : undefined;
  }

  get running(): boolean {
    return this.pid !== undefined;
  }

  /** A URL for the application role on `database` (its password included: pass it in the environment, not on a command line). */
  url(database: string): string {
    return `postgresql://${APP_ROLE}:${this.password}@/${database}?host=${this.dir}`;
  }

  /** A fresh database owned by the application role; returns its URL. */
  async createDatabase(name = `netloom_${++this.databases}_${randomBytes(3).toString('hex')}`): Promise<string> {
    await this.admin(`CREATE DATABASE ${name} OWNER ${APP_ROLE}`);
    return this.url(name);
  }

  /** One statement as the superuser. */
  async admin<T extends object = Record<string, unknown>>(sql: string, params: unknown[] = [], database = 'postgres'): Promise<T[]> {
    const client = new Client({ host: this.dir, user: 'postgres', database });
    await client.connect();
    try {
      return (await client.query<T>(sql, params)).rows;
    } finally {
      await client.end();
    }
  }

  /** Starts the postmaster (again) on the same data and waits until it takes connections. */
  async start(): Promise<void> {
    if (this.running) return;
    const log = openSync(this.logFile, 'a');
    const args = ['-D', this.dataDir, '-k', this.dir, '-p', '5432', ...SETTINGS.flatMap((s) => ['-c', s])];
    try {
      this.child = spawn(...this.command('postgres', args), { stdio: ['ignore', log, log] });
    } finally {
      closeSync(log);
    }
    const child = this.child;
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`postgres exited at start:\n${this.log()}`);
      try {
        await this.admin('SELECT 1');
        return;
      } catch (error) {
        if (Date.now() > deadline) throw new Error(`postgres did not answer in 30 s (${(error as Error).message}):\n${this.log()}`);
      }
      await new Promise((done) => setTimeout(done, 100));
    }
  }

  /** Stops it as a crash would (`pg_ctl stop -m immediate`: SIGQUIT, no checkpoint, recovery at the next start). */
  crash(): Promise<void> {
    return this.signal('SIGQUIT');
  }

  /** Stops it cleanly (`pg_ctl stop -m fast`). */
  stop(): Promise<void> {
    return this.signal('SIGINT');
  }

  /** Stops it (if it runs) and removes the directory. */
  async destroy(): Promise<void> {
    try {
      await this.stop();
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }

  /** The server's log so far (for failure messages). */
  log(): string {
    return existsSync(this.logFile) ? readFileSync(this.logFile, 'utf8') : '';
  }

  private async signal(signal: NodeJS.Signals): Promise<void> {
    await endChild(this.child, signal, 15_000);
    this.child = undefined;
  }

  /** Runs a PostgreSQL program to its end as the unprivileged user. */
  private run(program: string, args: string[]): void {
    const [file, argv] = this.command(program, args);
    execFileSync(file, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  }

  /** As root: through setpriv as nobody, killed with this process (pdeathsig); otherwise as ourselves. */
  private command(program: string, args: string[]): [string, string[]] {
    const path = join(this.bin, program);
    if (process.getuid?.() !== 0) return [path, args];
    const [uid, gid] = runner();
    return ['setpriv', [`--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--pdeathsig', 'KILL', '--', path, ...args]];
  }

  private ownedByRunner(path: string): void {
    if (process.getuid?.() === 0) chownSync(path, ...runner());
  }
}

/** The unprivileged user's uid and primary gid. */
function runner(): [number, number] {
  const id = (flag: string): number => Number(execFileSync('id', [flag, RUN_AS], { encoding: 'utf8' }).trim());
  return [id('-u'), id('-g')];
}
