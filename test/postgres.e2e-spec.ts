// The controller on PostgreSQL under faults and with several writers: a throwaway cluster
// (test/support/postgres.ts) run as nobody in a temporary directory; the controllers are real
// processes from the build; PostgreSQL is stopped for real (immediate shutdown: SIGQUIT to the
// postmaster, as `pg_ctl stop -m immediate`), a writer lock is held by a real session.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { DataSource, Table } from 'typeorm';
import { MIGRATIONS } from '@netloom/migrations';
import WebSocket from 'ws';
import { AGENT_PATH, JOIN_PATH } from '@netloom/protocol';
import { REVISION_LOCK } from '../apps/controller/src/database/postgres-store';
import { ControllerProcess, errorCode, GqlResult } from './support/controller';
import { APP_ROLE, PostgresCluster } from './support/postgres';

jest.setTimeout(120_000);

const CREATE_NETWORK = 'mutation($input: CreateNetworkInput!) { createNetwork(input: $input) { id name } }';
const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

interface Change {
  revision: number;
  kind: string;
  id: string;
  operation: string;
}

async function networkNames(c: ControllerProcess): Promise<string[]> {
  const data = await c.ok<{ networks: { edges: { node: { name: string } }[] } }>('{ networks(first: 1000) { edges { node { name } } } }');
  return data.networks.edges.map((e) => e.node.name).sort();
}

async function allChanges(c: ControllerProcess): Promise<Change[]> {
  const data = await c.ok<{ changes: Change[] }>('{ changes(afterRevision: 0, first: 1000) { revision kind id operation } }');
  return data.changes;
}

/** Revisions 1..n, each once, in order. */
const gapFree = (revisions: number[]): boolean => revisions.every((r, i) => r === i + 1);

/** Every network change a graphql-ws subscription on `c` receives. */
function subscribeNetworks(c: ControllerProcess) {
  const ws = c.ws();
  const events: Change[] = [];
  ws.subscribe<{ resourceChanges: Change }>(
    { query: 'subscription { resourceChanges(kinds: ["Network"]) { revision kind id operation } }' },
    { next: (value) => value.data && events.push(value.data.resourceChanges), error: () => undefined, complete: () => undefined },
  );
  return { events, close: () => ws.dispose() };
}

/** graphql-ws does not acknowledge a subscribe: write until the subscriptions see a write. */
async function untilSubscribed(c: ControllerProcess, subscriptions: { events: Change[] }[], name: string): Promise<void> {
  for (let i = 0; i < 50 && subscriptions.some((s) => s.events.length === 0); i++) {
    await c.ok(CREATE_NETWORK, { input: { name: `${name}-${i}` } });
    await sleep(100);
  }
}

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

let cluster: PostgresCluster;
/** Set by a test that stops the cluster: it is started again after that test, whatever happened. */
let restartAfter = false;
const dirs: string[] = [];
const controllers: ControllerProcess[] = [];

/** A controller on `database` (its own data dir, removed after the file's tests). */
async function controllerOn(database: string, launch = true): Promise<ControllerProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'netloom-pg-e2e-'));
  dirs.push(dir);
  const c = new ControllerProcess(dir, { database });
  controllers.push(c);
  if (launch) await c.launch();
  return c;
}

beforeAll(async () => {
  cluster = await PostgresCluster.create();
}, 60_000);

afterEach(async () => {
  if (restartAfter) await cluster.start();
  restartAfter = false;
});

afterAll(async () => {
  for (const c of controllers) await c.stop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  await cluster?.destroy();
});

describe('migrations on PostgreSQL', () => {
  /** What a schema is made of, in terms both databases share. */
  const shape = (tables: Table[]) =>
    tables
      .filter((t) => t.name !== 'migrations' && !t.name.startsWith('sqlite_'))
      .map((t) => ({
        table: t.name,
        columns: t.columns
          .map((c) => ({
            name: c.name,
            type: c.type.replace('character varying', 'varchar'),
            length: c.length,
            nullable: c.isNullable,
            primary: c.isPrimary,
            default: typeof c.default === 'string' ? c.default.replace(/^'(\d+)'$/, '$1') : c.default,
          }))
          .sort((a, b) => a.name.localeCompare(b.name)),
        uniques: t.uniques.map((u) => `${u.name}(${[...u.columnNames].sort().join(',')})`).sort(),
        indices: t.indices.map((i) => `${i.name}(${i.columnNames.join(',')})${i.isUnique ? ' unique' : ''}`).sort(),
        foreignKeys: t.foreignKeys
          .map((k) => `${k.name}(${k.columnNames.join(',')}) → ${k.referencedTableName}(${k.referencedColumnNames.join(',')}) on delete ${k.onDelete ?? 'NO ACTION'}`)
          .sort(),
      }))
      .sort((a, b) => a.table.localeCompare(b.table));

  async function migratedShape(options: ConstructorParameters<typeof DataSource>[0]) {
    const dataSource = await new DataSource({ ...options, migrations: MIGRATIONS }).initialize();
    try {
      await dataSource.runMigrations();
      const runner = dataSource.createQueryRunner();
      try {
        // PostgreSQL would list its catalogs too: only the tables of the database's own schema.
        const names =
          options.type === 'postgres'
            ? ((await runner.query('SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()')) as { table_name: string }[]).map((r) => r.table_name)
            : undefined;
        const tables = await runner.getTables(names);
        if (options.type === 'postgres') {
          // TypeORM lists an index's columns in table order; the key order is in its definition.
          const definitions = (await runner.query('SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()')) as { indexname: string; indexdef: string }[];
          const keys = new Map(definitions.map((d) => [d.indexname, /\(([^()]*)\)\s*$/.exec(d.indexdef)![1].split(',').map((c) => c.trim().replace(/"/g, ''))]));
          for (const index of tables.flatMap((t) => t.indices)) index.columnNames = keys.get(index.name!) ?? index.columnNames;
        }
        return shape(tables);
      } finally {
        await runner.release();
      }
    } finally {
      await dataSource.destroy();
    }
  }

  it('build the same tables, columns, keys, indexes and cascades as on SQLite', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'netloom-pg-schema-'));
    dirs.push(dir);
    const sqlite = await migratedShape({ type: 'better-sqlite3', database: join(dir, 'schema.sqlite') });
    const postgres = await migratedShape({ type: 'postgres', url: await cluster.createDatabase() });
    expect(sqlite.map((t) => t.table)).toContain('ip_allocations');
    // The cascade PluginAddressReservations lost on PostgreSQL (its changeColumn re-created the column) is back.
    expect(postgres.find((t) => t.table === 'ip_allocations')?.foreignKeys).toContain(
      'fk_ip_allocations_port(port_id) → ports(id) on delete CASCADE',
    );
    expect(postgres).toEqual(sqlite);
  });
});

describe('PostgreSQL out of reach', () => {
  it('at start: the controller waits, saying so, and serves once PostgreSQL answers', async () => {
    const database = await cluster.createDatabase();
    await cluster.stop();
    restartAfter = true;
    const c = await controllerOn(database, false);
    const started = c.launch();
    started.catch(() => undefined);
    await until('the waiting log line', () => c.output.join('').includes('is out of reach'));
    expect(c.output.join('')).toMatch(/PostgreSQL postgresql:\/\/netloom:\*\*\*@\/netloom_\w+\?host=\S+ is out of reach \((ENOENT|ECONNREFUSED)[^)]*\); not serving until it answers/);
    expect(c.output.join('')).not.toContain(database); // no password in the log
    expect(c.running).toBe(true);
    await cluster.start();
    await started;
    expect((await c.ok(CREATE_NETWORK, { input: { name: 'after-wait' } })).createNetwork.name).toBe('after-wait');
  });

  it('refuses at once, without retrying, what waiting cannot cure: a wrong password', async () => {
    const database = (await cluster.createDatabase()).replace(/:[0-9a-f]+@/, ':wrong@');
    const c = await controllerOn(database, false);
    const started = Date.now();
    await expect(c.launch()).rejects.toThrow(/exited with 1[\s\S]*refused the controller: password authentication failed for user "netloom"/);
    // Refused, not waited for: the "out of reach … not serving until it answers" line never came.
    expect(c.output.join('')).not.toContain('is out of reach');
    process.stderr.write(`postgres e2e: a wrong password refused in ${Date.now() - started} ms\n`);
    expect(c.output.join('')).not.toContain('wrong');
  });

  it('stopped mid-stream of writes: UNAVAILABLE errors, the controller stays up, recovers without restart, keeps every acknowledged write', async () => {
    const database = await cluster.createDatabase();
    const c = await controllerOn(database);
    // Another controller on the same database, whose subscriber must see every change of c's, before and after.
    const watcher = await controllerOn(database);
    watcher.adminToken = c.adminToken;
    const watching = subscribeNetworks(watcher);
    const acked: string[] = [];
    const notSaved: string[] = [];
    const unknown: string[] = [];
    const unavailable: GqlResult[] = [];
    let n = 0;
    const write = async (): Promise<GqlResult> => {
      const name = `w-${++n}`;
      const result = await c.gql(CREATE_NETWORK, { input: { name } });
      if (!result.errors?.length) acked.push(name);
      else if (errorCode(result) === 'UNAVAILABLE') {
        unavailable.push(result);
        (result.errors[0].message.includes('nothing was saved') ? notSaved : unknown).push(name);
        await sleep(50);
      } else throw new Error(`unexpected answer: ${JSON.stringify(result.errors)}; controller output:\n${c.output.join('')}`);
      return result;
    };
    // Two writers at once, so a write is in flight when PostgreSQL goes.
    let writing = true;
    const writers = [0, 1].map(async () => {
      while (writing) await write();
    });
    await until('some writes, seen by the watcher', () => acked.length >= 20 && watching.events.length > 0);
    await cluster.crash();
    restartAfter = true;
    await until('UNAVAILABLE answers while PostgreSQL is down', () => notSaved.length >= 5);
    const read = await c.gql('{ networks(first: 5) { totalCount } }');
    expect(errorCode(read)).toBe('UNAVAILABLE');
    expect(read.errors?.[0].message).toMatch(/^database unavailable: PostgreSQL cannot be reached/);
    expect(c.running).toBe(true);
    // The probes: alive, not ready, and why (no password in it).
    const probe = async (path: string) => {
      const response = await fetch(`${c.url.replace(/\/graphql$/, '')}${path}`);
      return { status: response.status, body: (await response.json()) as { status: string; reason?: string } };
    };
    expect(await probe('/healthz')).toEqual({ status: 200, body: { status: 'ok' } });
    const notReady = await probe('/readyz');
    expect(notReady).toMatchObject({ status: 503, body: { status: 'unavailable', reason: expect.stringMatching(/^database postgresql:\/\/netloom:\*\*\*@/) } });
    expect(notReady.body.reason).not.toContain(database.replace(/^.*:\/\/[^:]*:([^@]*)@.*$/, '$1'));

    await cluster.start();
    const ackedBefore = acked.length;
    await until('writes acknowledged again, without restarting the controller', () => acked.length >= ackedBefore + 20);
    expect(await probe('/readyz')).toEqual({ status: 200, body: { status: 'ready' } });
    writing = false;
    await Promise.all(writers);
    expect(c.running).toBe(true);
    expect(c.output.join('')).not.toMatch(/internal error|INTERNAL_SERVER_ERROR/);
    for (const result of unavailable) expect(result.errors?.[0].message).toMatch(/^database unavailable: /);

    const stored = await networkNames(c);
    // Every acknowledged write is there; nothing refused as "nothing was saved" is; a write cut
    // off while its COMMIT was in flight may be either.
    for (const name of acked) expect(stored).toContain(name);
    for (const name of notSaved) expect(stored).not.toContain(name);
    expect(stored.filter((name) => !acked.includes(name) && !unknown.includes(name))).toEqual([]);
    // The feed: one change per stored network, revisions gap-free.
    const changes = await allChanges(c);
    expect(gapFree(changes.map((ch) => ch.revision))).toBe(true);
    expect(changes.length).toBe(stored.length);
    // The other controller's feed came back by itself: its subscriber got every change from its
    // first on, once and in order, the ones after the outage included.
    const last = changes[changes.length - 1].revision;
    await until('the watcher to see the last change', () => watching.events.at(-1)?.revision === last);
    await watching.close();
    expect(watching.events).toEqual(changes.filter((ch) => ch.revision >= watching.events[0].revision));
    expect(watcher.output.join('')).toContain('change feed: lost the LISTEN connection to PostgreSQL');
    await until('the watcher to LISTEN again', () => watcher.output.join('').includes('change feed: listening to PostgreSQL again'));
    // And a restart finds the same.
    await c.stop();
    await c.launch();
    expect(await networkNames(c)).toEqual(stored);
  });

  it('agents are told 503 while PostgreSQL is away, not that their credential or token is refused', async () => {
    const c = await controllerOn(await cluster.createDatabase());
    const base = c.url.replace(/\/graphql$/, '');
    const { createHost } = await c.ok('mutation { createHost(input: { name: "h503", vtepAddress: "192.0.2.50" }) { joinToken } }');
    const join = () =>
      fetch(`${base}${JOIN_PATH}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ joinToken: createHost.joinToken, credential: 'nlh_0123456789abcdef0123456789abcdef0123456789a' }),
      });
    const upgrade = () =>
      new Promise<number>((done, fail) => {
        const ws = new WebSocket(`${base.replace(/^http/, 'ws')}${AGENT_PATH}`, { headers: { authorization: 'Bearer nlh_unknown' } });
        ws.once('unexpected-response', (_request, response) => {
          done(response.statusCode ?? 0);
          ws.terminate();
        });
        ws.once('open', () => fail(new Error('the channel opened')));
        ws.once('error', () => undefined);
      });
    await cluster.crash();
    restartAfter = true;
    expect((await join()).status).toBe(503);
    expect(await upgrade()).toBe(503);
    await cluster.start();
    // Back: an unknown credential is refused as such, and the join token still works (nothing was used up).
    expect(await upgrade()).toBe(401);
    expect((await join()).status).toBe(200);
  });

  it('a writer lock held elsewhere: UNAVAILABLE "database busy" after the lock timeout, then writes go on', async () => {
    const c = await controllerOn(await cluster.createDatabase('netloom_busy'));
    await c.ok(CREATE_NETWORK, { input: { name: 'before' } });
    const holder = new Client({ host: cluster.dir, user: 'postgres', database: 'netloom_busy' });
    await holder.connect();
    try {
      await holder.query('SELECT pg_advisory_lock($1)', [REVISION_LOCK]);
      const busy = await c.gql(CREATE_NETWORK, { input: { name: 'busy' } });
      expect(errorCode(busy)).toBe('UNAVAILABLE');
      expect(busy.errors?.[0].message).toContain('database busy');
    } finally {
      await holder.end();
    }
    await c.ok(CREATE_NETWORK, { input: { name: 'after' } });
    expect(await networkNames(c)).toEqual(['after', 'before']);
  });
});

describe('two controllers writing to one PostgreSQL', () => {
  it('start together, assign gap-free, strictly ordered revisions, refuse a name taken by the other, and each feed delivers every change once, in order', async () => {
    // Both start at once on an empty database: migrations run once (under a lock), one admin token is made.
    const database = await cluster.createDatabase('netloom_pair');
    const started = await Promise.all([controllerOn(database), controllerOn(database)]);
    expect(started.filter((c) => c.adminToken).length).toBe(1);
    const [a, b] = started.sort((x, y) => (y.adminToken ? 1 : 0) - (x.adminToken ? 1 : 0));
    b.adminToken = a.adminToken;
    expect(await cluster.admin('SELECT name FROM api_tokens', [], 'netloom_pair')).toEqual([{ name: 'bootstrap-admin' }]);
    const subscriptions = [subscribeNetworks(a), subscribeNetworks(b)];
    try {
      await untilSubscribed(a, subscriptions, 'warm-up');
      const start = (await allChanges(a)).length;

      // 4 writers on each controller at once, 40 networks each controller.
      const write = (c: ControllerProcess, prefix: string) =>
        Promise.all(
          [0, 1, 2, 3].map(async (w) => {
            for (let i = 0; i < 10; i++) await c.ok(CREATE_NETWORK, { input: { name: `${prefix}-${w}-${i}` } });
          }),
        );
      await Promise.all([write(a, 'a'), write(b, 'b')]);
      // The same name through both at once: one wins, the other is told so (not a constraint error).
      const race = await Promise.all([a.gql(CREATE_NETWORK, { input: { name: 'contested' } }), b.gql(CREATE_NETWORK, { input: { name: 'contested' } })]);
      expect(race.map((r) => errorCode(r) ?? 'OK').sort()).toEqual(['CONFLICT', 'OK']);
      expect(race.find((r) => r.errors)?.errors?.[0]).toMatchObject({ message: expect.stringContaining('already'), extensions: { field: 'input.name' } });

      const changes = await allChanges(a);
      expect(await allChanges(b)).toEqual(changes);
      expect(gapFree(changes.map((c) => c.revision))).toBe(true);
      expect(changes.length).toBe(start + 81);
      const last = changes[changes.length - 1].revision;
      for (const c of [a, b]) expect((await c.ok<{ revision: number }>('{ revision }')).revision).toBe(last);

      // Each subscription saw every network change, from both controllers, once and in order.
      const networkChanges = changes.filter((c) => c.kind === 'Network');
      for (const s of subscriptions) {
        await until('the subscription to see the last change', () => s.events.at(-1)?.revision === last);
        const seen = s.events.map((e) => e.revision);
        expect(seen).toEqual([...seen].sort((x, y) => x - y));
        expect(new Set(seen).size).toBe(seen.length);
        expect(s.events).toEqual(networkChanges.filter((c) => c.revision >= s.events[0].revision));
      }
      // Whatever a subscription started late missed, it missed at the start only: the rest it got.
      expect(subscriptions.every((s) => s.events.length >= 81)).toBe(true);
    } finally {
      for (const s of subscriptions) await s.close();
    }
  });
});

// The role the tests connect as is the one the README tells operators to create.
it('runs the controller as a role that owns its database, not as a superuser', async () => {
  const [row] = await cluster.admin<{ rolsuper: boolean }>('SELECT rolsuper FROM pg_roles WHERE rolname = $1', [APP_ROLE]);
  expect(row.rolsuper).toBe(false);
});
