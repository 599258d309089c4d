// The embedded store under faults: a full disk, a busy database, a second controller, damaged
// and foreign files, file modes. Real controller processes from the build; the faults are real (a
// small tmpfs filled up, a lock held by another connection, bytes overwritten in a page).
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, statSync, writeFileSync, writeSync, chmodSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ControllerProcess, GqlResult } from './support/controller';
import { uniqueName } from './support/fixtures';

jest.setTimeout(60_000);

const CREATE_NETWORK = 'mutation($input: CreateNetworkInput!) { createNetwork(input: $input) { id name } }';

async function networkNames(c: ControllerProcess): Promise<Set<string>> {
  const data = await c.ok<{ networks: { edges: { node: { name: string } }[] } }>('{ networks(first: 1000) { edges { node { name } } } }');
  return new Set(data.networks.edges.map((e) => e.node.name));
}

/** Creates networks one by one; returns the names acknowledged and the failures' results. */
async function createNetworks(c: ControllerProcess, count: number, prefix: string) {
  const acked: string[] = [];
  const failed: GqlResult[] = [];
  for (let i = 0; i < count; i++) {
    const name = `${prefix}-${i}`;
    const result = await c.gql(CREATE_NETWORK, { input: { name } });
    if (result.errors?.length) failed.push(result);
    else acked.push(name);
  }
  return { acked, failed };
}

/**
 * Starts a controller on `dir` and expects it to exit on its own, refusing: returns its output.
 * How long that took is printed, not asserted (a loaded machine is slow; a hang is jest's timeout).
 */
async function expectRefusal(dir: string): Promise<{ output: string }> {
  const c = new ControllerProcess(dir);
  const started = Date.now();
  let output = '';
  try {
    await c.launch();
  } catch (error) {
    output = (error as Error).message;
  } finally {
    await c.stop();
  }
  if (!output) throw new Error(`the controller started on ${dir}`);
  process.stderr.write(`store e2e: refused in ${Date.now() - started} ms\n`);
  return { output };
}

const mode = (path: string): number => statSync(path).mode & 0o777;

describe('store: one controller per embedded database', () => {
  it('refuses a second controller on the same data dir, naming the first, until that one is gone (even by kill -9)', async () => {
    const first = await ControllerProcess.start();
    try {
      const refused = await expectRefusal(first.dataDir);
      expect(refused.output).toContain('in use by another NetLoom controller');
      expect(refused.output).toContain('several controllers sharing one database need PostgreSQL: --database postgres://');
      expect(refused.output).toContain(`pid ${first.pid}`);
      // The first one was not disturbed.
      await first.ok(CREATE_NETWORK, { input: { name: uniqueName('still-first') } });

      await first.kill('SIGKILL');
      const second = new ControllerProcess(first.dataDir);
      try {
        await second.launch();
        second.adminToken = first.adminToken;
        expect((await networkNames(second)).size).toBe(1);
      } finally {
        await second.stop();
      }
    } finally {
      await first.destroy();
    }
  });
});

describe('store: what is found at start', () => {
  const dirs: string[] = [];
  const freshDir = (): string => {
    const dir = mkdtempSync(join(tmpdir(), 'netloom-e2e-store-'));
    dirs.push(dir);
    return dir;
  };
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a zero-length database file within seconds, and leaves it as it was', async () => {
    const dir = freshDir();
    writeFileSync(join(dir, 'netloom.sqlite'), '');
    const { output } = await expectRefusal(dir);
    expect(output).toContain('is empty (0 bytes), not a NetLoom database');
    expect(output).not.toContain('NETLOOM_ADMIN_TOKEN');
    expect(statSync(join(dir, 'netloom.sqlite')).size).toBe(0);
  });

  it('refuses a file that is not SQLite, and an SQLite database of something else', async () => {
    const text = freshDir();
    writeFileSync(join(text, 'netloom.sqlite'), 'hello, I am a text file\n');
    expect((await expectRefusal(text)).output).toContain('is not an SQLite database');

    const foreign = freshDir();
    const db = new Database(join(foreign, 'netloom.sqlite'));
    db.exec("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO customers (name) VALUES ('ada')");
    db.close();
    const { output } = await expectRefusal(foreign);
    expect(output).toContain('SQLite database of something else (tables: customers)');
    const after = new Database(join(foreign, 'netloom.sqlite'), { readonly: true });
    try {
      const tables = after.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all();
      expect(tables).toEqual([{ name: 'customers' }]);
    } finally {
      after.close();
    }
  });

  it('refuses a database with a damaged page within seconds', async () => {
    const c = await ControllerProcess.start();
    dirs.push(c.dataDir);
    const file = join(c.dataDir, 'netloom.sqlite');
    for (let i = 0; i < 50; i++) await c.ok(CREATE_NETWORK, { input: { name: `n-${i}` } });
    await c.stop();
    // Fold the WAL into the file, then overwrite the networks table's root page with garbage.
    const db = new Database(file);
    db.pragma('wal_checkpoint(TRUNCATE)');
    const pageSize = db.pragma('page_size', { simple: true }) as number;
    const { rootpage } = db.prepare("SELECT rootpage FROM sqlite_master WHERE name = 'networks'").get() as { rootpage: number };
    db.close();
    const fd = openSync(file, 'r+');
    try {
      writeSync(fd, Buffer.alloc(pageSize, 0xa5), 0, pageSize, (rootpage - 1) * pageSize);
    } finally {
      closeSync(fd);
    }
    const { output } = await expectRefusal(c.dataDir);
    expect(output).toContain('is damaged');
    expect(output).toContain('restore it from a backup');
  });

  it('keeps the data dir 0700 and the database files 0600, tightening what it finds', async () => {
    const c = await ControllerProcess.start();
    dirs.push(c.dataDir);
    const file = join(c.dataDir, 'netloom.sqlite');
    try {
      await c.ok(CREATE_NETWORK, { input: { name: uniqueName('modes') } });
      expect(mode(c.dataDir)).toBe(0o700);
      for (const path of [file, `${file}-wal`, `${file}-shm`, `${file}.lock`]) expect([path, mode(path)]).toEqual([path, 0o600]);
      await c.stop();
      chmodSync(c.dataDir, 0o755);
      chmodSync(file, 0o644);
      await c.launch();
      expect(mode(c.dataDir)).toBe(0o700);
      expect(mode(file)).toBe(0o600);
      expect(mode(`${file}-wal`)).toBe(0o600);
    } finally {
      await c.stop();
    }
  });
});

describe('store: faults while serving', () => {
  let mountPoint = '';
  beforeAll(() => {
    mountPoint = mkdtempSync(join(tmpdir(), 'netloom-e2e-full-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m,mode=0700', 'netloom-e2e', mountPoint]);
  });
  afterAll(() => {
    if (!mountPoint) return;
    try {
      execFileSync('umount', [mountPoint]);
    } finally {
      rmSync(mountPoint, { recursive: true, force: true });
    }
  });

  it('a full disk: clear UNAVAILABLE errors; after space is freed every acknowledged write is kept and nothing else', async () => {
    const dataDir = join(mountPoint, 'data');
    const filler = join(mountPoint, 'filler');
    const c = new ControllerProcess(dataDir);
    try {
      await c.launch();
      const before = await createNetworks(c, 4, 'before');
      expect(before.failed).toEqual([]);

      // Fill the file system to the last byte.
      const fd = openSync(filler, 'w');
      const chunk = Buffer.alloc(64 * 1024, 1);
      let size = chunk.length;
      try {
        for (;;) {
          try {
            writeSync(fd, chunk, 0, size);
          } catch (error) {
            if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
            if (size === 1) break;
            size = Math.max(1, size >> 1);
          }
        }
      } finally {
        closeSync(fd);
      }

      const full = await createNetworks(c, 24, 'full');
      expect(full.failed.length).toBeGreaterThan(0);
      for (const result of full.failed) {
        expect(result.errors?.[0]).toMatchObject({ extensions: { code: 'UNAVAILABLE' } });
        expect(result.errors?.[0].message).toContain('database disk full');
      }

      rmSync(filler);
      const after = await createNetworks(c, 24, 'after');
      expect(after.failed).toEqual([]);

      const acknowledged = new Set([...before.acked, ...full.acked, ...after.acked]);
      expect(await networkNames(c)).toEqual(acknowledged);
      await c.kill('SIGKILL'); // a crash: only what was committed survives
      await c.launch();
      expect(await networkNames(c)).toEqual(acknowledged);
    } finally {
      await c.stop();
      rmSync(filler, { force: true });
    }
  });

  it('a busy database: UNAVAILABLE while another connection holds the write lock, then writes go on and are kept', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'netloom-e2e-busy-'));
    mkdirSync(dataDir, { recursive: true });
    const c = new ControllerProcess(dataDir);
    try {
      await c.launch();
      const before = await createNetworks(c, 2, 'before');
      const holder = new Database(join(dataDir, 'netloom.sqlite'));
      let busy: Awaited<ReturnType<typeof createNetworks>>;
      try {
        holder.exec('BEGIN IMMEDIATE'); // the write lock, held by another connection
        busy = await createNetworks(c, 1, 'busy');
      } finally {
        holder.exec('ROLLBACK');
        holder.close();
      }
      expect(busy.acked).toEqual([]);
      expect(busy.failed[0].errors?.[0]).toMatchObject({ extensions: { code: 'UNAVAILABLE' } });
      expect(busy.failed[0].errors?.[0].message).toContain('database busy');

      const after = await createNetworks(c, 3, 'after');
      expect(after.failed).toEqual([]);
      await c.kill('SIGKILL');
      await c.launch();
      expect(await networkNames(c)).toEqual(new Set([...before.acked, ...after.acked]));
    } finally {
      await c.destroy();
      expect(existsSync(dataDir)).toBe(false);
    }
  });
});
