/**
 * The audit log, end to end on a built controller: every mutation's objects with who, when, what,
 * before and after; nothing for a refused mutation; filters (time too) and newest-first pages;
 * admins only; no secrets; entries past the retention pruned (rows aged while the controller is stopped);
 * the plan of a page filtered by kind and since (the (kind, id) index, with the id bound).
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Client } from 'pg';
import { BetterSqlite3QueryRunner } from 'typeorm/driver/better-sqlite3/BetterSqlite3QueryRunner';
import { DataSource } from 'typeorm';
import { PostgresQueryRunner } from 'typeorm/driver/postgres/PostgresQueryRunner';
import { ControllerProcess, errorCode } from './support/controller';
import { createHost, createNetwork, createSubnet, testStore, uniqueName, useController } from './support/fixtures';
import { scrapeMetrics, valueOf } from './support/prometheus';
import { waitFor } from './support/agent';
import { inProcessController } from './support/in-process';

jest.setTimeout(120_000);

interface Entry {
  id: string;
  at: string;
  requestId: string;
  tokenId: string;
  tokenName: string;
  tokenRole: 'ADMIN' | 'VIEWER';
  mutation: string;
  operation: 'CREATE' | 'UPDATE' | 'DELETE';
  kind: string;
  objectId: string;
  objectName: string;
  revision: number | null;
  before: string | null;
  after: string | null;
}

interface Page {
  totalCount: number;
  edges: { cursor: string; node: Entry }[];
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; endCursor: string | null; startCursor: string | null };
}

const ENTRY = 'id at requestId tokenId tokenName tokenRole mutation operation kind objectId objectName revision before after';
const AUDIT = `query($filter: AuditFilter, $first: Int, $after: String, $last: Int, $before: String) {
  auditEntries(filter: $filter, first: $first, after: $after, last: $last, before: $before) {
    totalCount edges { cursor node { ${ENTRY} } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}`;

async function auditPage(c: ControllerProcess, filter: Record<string, unknown> = {}, page: Record<string, unknown> = { first: 1000 }): Promise<Page> {
  return (await c.ok<{ auditEntries: Page }>(AUDIT, { filter, ...page })).auditEntries;
}

const entriesOf = async (c: ControllerProcess, filter: Record<string, unknown>): Promise<Entry[]> => (await auditPage(c, filter)).edges.map((e) => e.node);
const row = (json: string | null): Record<string, unknown> | null => (json === null ? null : (JSON.parse(json) as Record<string, unknown>));
const sha256 = (secret: string): string => createHash('sha256').update(secret).digest('hex');

/** Runs one statement on the stopped controller's store (SQLite file or PostgreSQL database). */
async function onStore(c: ControllerProcess, sql: { sqlite: string; postgres: string }, params: unknown[]): Promise<void> {
  if (testStore() === 'sqlite') {
    const db = new Database(join(c.dataDir, 'netloom.sqlite'), { fileMustExist: true });
    try {
      db.prepare(sql.sqlite).run(...params);
    } finally {
      db.close();
    }
    return;
  }
  const client = new Client({ connectionString: c.options.database });
  await client.connect();
  try {
    await client.query(sql.postgres, params);
  } finally {
    await client.end();
  }
}

describe('audit log', () => {
  const ctl = useController();
  let viewer = '';

  beforeAll(async () => {
    const made = await ctl().ok('mutation($name: String!) { createApiToken(input: { name: $name, role: VIEWER }) { secret } }', { name: uniqueName('viewer') });
    viewer = made.createApiToken.secret;
  });

  it('records create, update and delete of a network with who, what, before and after, newest first', async () => {
    const c = ctl();
    const network = await createNetwork(c);
    await c.ok('mutation($id: ID!) { updateNetwork(input: { id: $id, generation: 1, mtu: 1400, labels: [{ key: "tier", value: "web" }] }) { id } }', { id: network.id });
    const deleted = await c.ok('mutation($id: ID!) { deleteNetwork(input: { id: $id, generation: 2 }) { revision } }', { id: network.id });
    const [del, upd, crt] = await entriesOf(c, { objectId: network.id });
    expect([crt, upd, del].map((e) => [e.mutation, e.operation, e.kind, e.objectId, e.objectName, e.tokenName, e.tokenRole])).toEqual(
      [
        ['createNetwork', 'CREATE'],
        ['updateNetwork', 'UPDATE'],
        ['deleteNetwork', 'DELETE'],
      ].map(([mutation, operation]) => [mutation, operation, 'Network', network.id, network.name, 'bootstrap-admin', 'ADMIN']),
    );
    expect(del.revision).toBe(deleted.deleteNetwork.revision);
    expect(crt.revision! < upd.revision! && upd.revision! < del.revision!).toBe(true);
    expect(Date.parse(crt.at) <= Date.parse(upd.at) && Date.parse(upd.at) <= Date.parse(del.at)).toBe(true);
    expect(new Set([crt.requestId, upd.requestId, del.requestId]).size).toBe(3);
    expect(crt.before).toBeNull();
    expect(row(crt.after)).toMatchObject({ id: network.id, name: network.name, vni: network.vni, mtu: null, generation: 1, labels: [] });
    expect(row(upd.before)).toEqual(row(crt.after));
    expect(row(upd.after)).toMatchObject({ mtu: 1400, generation: 2, labels: [{ key: 'tier', value: 'web' }] });
    expect(row(del.before)).toEqual(row(upd.after));
    expect(del.after).toBeNull();
  });

  it('gives createPorts one entry per port, sharing a request id, and records port updates and deletes', async () => {
    const c = ctl();
    const host = await createHost(c);
    const network = await createNetwork(c);
    await createSubnet(c, network.id, '10.61.0.0/24');
    const names = [uniqueName('p'), uniqueName('p'), uniqueName('p')];
    const { createPorts } = await c.ok('mutation($inputs: [CreatePortInput!]!) { createPorts(inputs: $inputs) { id name macAddress } }', {
      inputs: names.map((name) => ({ name, networkId: network.id, hostId: host.host.id })),
    });
    const created = await entriesOf(c, { kind: 'Port' });
    const ours = created.filter((e) => names.includes(e.objectName));
    expect(ours).toHaveLength(3);
    expect(new Set(ours.map((e) => e.requestId)).size).toBe(1);
    expect(ours.every((e) => e.mutation === 'createPorts' && e.operation === 'CREATE' && e.before === null)).toBe(true);
    for (const port of createPorts as { id: string; name: string; macAddress: string }[]) {
      expect(row(ours.find((e) => e.objectId === port.id)!.after)).toMatchObject({ name: port.name, macAddress: port.macAddress, networkId: network.id, hostId: host.host.id });
    }
    const port = createPorts[0] as { id: string; name: string };
    await c.ok('mutation($id: ID!) { updatePort(input: { id: $id, portSecurity: false }) { id } }', { id: port.id });
    await c.ok('mutation($id: ID!) { deletePort(input: { id: $id }) { revision } }', { id: port.id });
    const [del, upd] = await entriesOf(c, { objectId: port.id });
    expect([upd.operation, row(upd.before)?.portSecurity, row(upd.after)?.portSecurity, row(upd.after)?.generation]).toEqual(['UPDATE', true, false, 2]);
    expect([del.operation, row(del.before)?.generation, del.after]).toEqual(['DELETE', 2, null]);
  });

  it('records a plugin kind (a router) with its spec', async () => {
    const c = ctl();
    const host = await createHost(c);
    const network = await createNetwork(c);
    const subnet = await createSubnet(c, network.id, '10.62.0.0/24');
    const name = uniqueName('r');
    const { createRouter } = await c.ok('mutation($input: CreateRouterInput!) { createRouter(input: $input) { id generation } }', {
      input: { name, hostId: host.host.id },
    });
    await c.ok('mutation($input: UpdateRouterInput!) { updateRouter(input: $input) { id } }', {
      input: { id: createRouter.id, generation: 1, interfaces: [{ subnetId: subnet.id }] },
    });
    await c.ok('mutation($id: ID!) { deleteRouter(input: { id: $id, generation: 2 }) { revision } }', { id: createRouter.id });
    const [del, upd, crt] = await entriesOf(c, { objectId: createRouter.id });
    expect([crt, upd, del].map((e) => [e.kind, e.mutation, e.operation, e.objectName])).toEqual([
      ['Router', 'createRouter', 'CREATE', name],
      ['Router', 'updateRouter', 'UPDATE', name],
      ['Router', 'deleteRouter', 'DELETE', name],
    ]);
    expect(row(crt.after)).toMatchObject({ kind: 'Router', name, generation: 1, spec: expect.objectContaining({ hostId: host.host.id }) });
    expect(row(upd.before)).toEqual(row(crt.after));
    expect((row(upd.after)!.spec as { interfaces: { subnetId: string }[] }).interfaces).toEqual([expect.objectContaining({ subnetId: subnet.id })]);
    expect(row(del.before)).toEqual(row(upd.after));
    expect(del.after).toBeNull();
  });

  it('leaves no entry for a refused mutation, and one for the next that succeeds', async () => {
    const c = ctl();
    const host = await createHost(c);
    const network = await createNetwork(c);
    const before = (await auditPage(c, {}, { first: 1 })).totalCount;
    const badName = await c.gql('mutation { createNetwork(input: { name: "no spaces allowed" }) { id } }');
    expect(errorCode(badName)).toBe('BAD_USER_INPUT');
    // The whole batch is refused for its last port: none of the others is audited either.
    const batch = await c.gql('mutation($inputs: [CreatePortInput!]!) { createPorts(inputs: $inputs) { id } }', {
      inputs: [
        { name: uniqueName('ok'), networkId: network.id, hostId: host.host.id },
        { name: uniqueName('bad'), networkId: network.id, hostId: host.host.id, macAddress: 'not-a-mac' },
      ],
    });
    expect(errorCode(batch)).toBe('BAD_USER_INPUT');
    const stale = await c.gql('mutation($id: ID!) { updateNetwork(input: { id: $id, generation: 7, mtu: 1400 }) { id } }', { id: network.id });
    expect(errorCode(stale)).toBe('CONFLICT');
    const byViewer = await c.gql('mutation { createNetwork(input: { name: "from-viewer" }) { id } }', {}, viewer);
    expect(errorCode(byViewer)).toBe('FORBIDDEN');
    const after = await createNetwork(c);
    const page = await auditPage(c, {}, { first: 1 });
    expect(page.totalCount).toBe(before + 1);
    expect(page.edges[0].node).toMatchObject({ objectId: after.id, mutation: 'createNetwork' });
  });

  it('filters by kind, object id and token name, and pages newest first with cursors', async () => {
    const c = ctl();
    const tokenName = uniqueName('ops');
    const { createApiToken } = await c.ok('mutation($name: String!) { createApiToken(input: { name: $name, role: ADMIN }) { token { id } secret } }', { name: tokenName });
    const ops = createApiToken.secret as string;
    const made: string[] = [];
    for (let i = 0; i < 5; i++) {
      made.push((await c.ok('mutation($name: String!) { createNetwork(input: { name: $name }) { id } }', { name: uniqueName('opsnet') }, ops)).createNetwork.id);
    }
    const byToken = await entriesOf(c, { tokenName });
    expect(byToken.map((e) => e.objectId)).toEqual([...made].reverse());
    expect(byToken.every((e) => e.tokenName === tokenName && e.tokenRole === 'ADMIN' && e.tokenId === createApiToken.token.id)).toBe(true);
    const networks = await entriesOf(c, { kind: 'Network' });
    expect(networks.length).toBeGreaterThan(5);
    expect(networks.every((e) => e.kind === 'Network')).toBe(true);
    expect(await entriesOf(c, { kind: 'Network', tokenName, objectId: made[2] })).toEqual([byToken[2]]);
    // Pages of two, newest first, then back.
    const first = await auditPage(c, { tokenName }, { first: 2 });
    const second = await auditPage(c, { tokenName }, { first: 2, after: first.pageInfo.endCursor });
    const third = await auditPage(c, { tokenName }, { first: 2, after: second.pageInfo.endCursor });
    expect([first, second, third].flatMap((p) => p.edges.map((e) => e.node.objectId))).toEqual([...made].reverse());
    expect([first.pageInfo.hasNextPage, second.pageInfo.hasNextPage, third.pageInfo.hasNextPage, third.pageInfo.hasPreviousPage]).toEqual([true, true, false, true]);
    const back = await auditPage(c, { tokenName }, { last: 2, before: third.pageInfo.startCursor });
    expect(back.edges.map((e) => e.node.objectId)).toEqual(second.edges.map((e) => e.node.objectId));
    expect(first.totalCount).toBe(5);
  });

  it('filters by time with since: the entries made at or after it, with the other filters too', async () => {
    const c = ctl();
    const early = await createNetwork(c);
    const [earlyEntry] = await entriesOf(c, { objectId: early.id });
    await new Promise((done) => setTimeout(done, 20));
    const since = new Date().toISOString();
    const later = [await createNetwork(c), await createNetwork(c)];
    const host = await createHost(c);
    const recent = await entriesOf(c, { since });
    expect(recent.map((e) => e.objectId)).toEqual([host.host.id, later[1].id, later[0].id]);
    expect(Date.parse(earlyEntry.at) < Date.parse(since)).toBe(true);
    expect((await entriesOf(c, { since, kind: 'Network' })).map((e) => e.objectId)).toEqual([later[1].id, later[0].id]);
    // At its own time an entry is in; a millisecond later it is not.
    const [first] = await entriesOf(c, { objectId: later[0].id });
    expect((await entriesOf(c, { since: first.at, objectId: later[0].id })).map((e) => e.id)).toEqual([first.id]);
    expect(await entriesOf(c, { since: new Date(Date.parse(first.at) + 1).toISOString(), objectId: later[0].id })).toEqual([]);
    expect((await auditPage(c, { since }, { first: 1 })).totalCount).toBe(3);
    expect(errorCode(await c.gql(AUDIT, { filter: { since: 'yesterday' }, first: 1 }))).toBe('BAD_USER_INPUT');
  });

  it('is for admins only: a viewer token is refused with FORBIDDEN', async () => {
    const result = await ctl().gql(AUDIT, { first: 1 }, viewer);
    expect(errorCode(result)).toBe('FORBIDDEN');
    expect(result.data?.auditEntries ?? null).toBeNull();
  });

  it('never holds a secret: join tokens, API token secrets and their hashes stay out', async () => {
    const c = ctl();
    const host = await createHost(c);
    const { resetHostJoinToken } = await c.ok('mutation($id: ID!) { resetHostJoinToken(id: $id) { joinToken } }', { id: host.host.id });
    const { createApiToken } = await c.ok('mutation($name: String!) { createApiToken(input: { name: $name, role: VIEWER }) { token { id name } secret } }', {
      name: uniqueName('short-lived'),
    });
    await c.ok('mutation($id: ID!) { revokeApiToken(id: $id) { id } }', { id: createApiToken.token.id });
    const [reset, created] = await entriesOf(c, { objectId: host.host.id });
    expect([created.mutation, reset.mutation, reset.operation, row(reset.after)?.joinTokenUsedAt]).toEqual(['createHost', 'resetHostJoinToken', 'UPDATE', null]);
    const [revoked, made] = await entriesOf(c, { objectId: createApiToken.token.id });
    expect([made.kind, made.operation, made.revision, row(made.after)?.name, row(made.after)?.role]).toEqual(['ApiToken', 'CREATE', null, createApiToken.token.name, 'viewer']);
    expect([revoked.operation, row(revoked.before)?.revokedAt, typeof row(revoked.after)?.revokedAt]).toEqual(['UPDATE', null, 'string']);
    const everything = JSON.stringify((await auditPage(c)).edges);
    for (const secret of [host.joinToken, resetHostJoinToken.joinToken, createApiToken.secret, viewer, c.adminToken]) {
      expect(everything).not.toContain(secret);
      expect(everything).not.toContain(sha256(secret));
    }
    expect(everything).not.toMatch(/tokenHash|joinTokenHash|credentialHash/);
  });
});

describe('audit across a crash and retention', () => {
  const ctl = useController();

  it('keeps the entry of every acknowledged mutation across a kill -9 (it commits with the change)', async () => {
    const c = ctl();
    const network = await createNetwork(c);
    await c.kill('SIGKILL');
    await c.launch();
    expect((await entriesOf(c, { objectId: network.id })).map((e) => [e.mutation, e.objectName])).toEqual([['createNetwork', network.name]]);
  });

  it('prunes entries older than the retention in bounded batches, keeping the rest', async () => {
    const c = ctl();
    const host = await createHost(c);
    const network = await createNetwork(c);
    await createSubnet(c, network.id, '10.63.0.0/22');
    const { createPorts } = await c.ok('mutation($inputs: [CreatePortInput!]!) { createPorts(inputs: $inputs) { id } }', {
      inputs: Array.from({ length: 1000 }, (_, i) => ({ name: `bulk-${i}`, networkId: network.id, hostId: host.host.id })),
    });
    const bulk = await auditPage(c, { kind: 'Port' }, { first: 1 });
    expect(bulk.totalCount).toBe(1000);
    const requestId = bulk.edges[0].node.requestId;
    const total = (await auditPage(c, {}, { first: 1 })).totalCount;

    // The 1000 entries of createPorts made 31 days old, while the controller is stopped.
    await c.stop();
    const old = new Date(Date.now() - 31 * 86_400_000).toISOString();
    await onStore(
      c,
      { sqlite: 'UPDATE audit_entries SET created_at = ? WHERE request_id = ?', postgres: 'UPDATE audit_entries SET created_at = $1 WHERE request_id = $2' },
      [old, requestId],
    );
    await c.launch(['--audit-retention-days', '30']);
    // A pass runs right after start (and every AUDIT_PRUNE_INTERVAL_MS): wait for it, then look.
    const samples = await waitFor(async () => {
      const scraped = await scrapeMetrics(c.url.replace(/\/graphql$/, ''));
      return valueOf(scraped, 'netloom_audit_prune_passes_total') >= 1 ? scraped : undefined;
    }, 30_000, 100, 'a pass of the audit prune');
    // Two transactions of 500 (AUDIT_PRUNE_BATCH), not one of 1000.
    expect([valueOf(samples, 'netloom_audit_prune_batch_entries_count'), valueOf(samples, 'netloom_audit_prune_batch_entries_sum')]).toEqual([2, 1000]);
    expect(valueOf(samples, 'netloom_audit_prune_batch_entries_bucket', { le: '250' })).toBe(0);
    const left = await auditPage(c, {}, { first: 1000 });
    expect(left.totalCount).toBe(total - 1000);
    expect(left.edges.some((e) => e.node.requestId === requestId)).toBe(false);
    expect(left.edges.some((e) => e.node.objectId === network.id)).toBe(true);
    // The ports themselves stay: only their audit entries went.
    expect((await c.ok('query($id: ID!) { port(id: $id) { id } }', { id: createPorts[999].id })).port).not.toBeNull();
  });
});

// In-process, so the SQL of one createPorts(1000) can be read: its audit rows go in bulk.
it('writes the 1000 audit entries of createPorts(1000) in two multi-row INSERTs, in its transaction', async () => {
  const ctl = await inProcessController('audit-bulk');
  const runner = testStore() === 'postgres' ? PostgresQueryRunner : BetterSqlite3QueryRunner;
  try {
    const { createHost } = await ctl.gql('mutation { createHost(input: { name: "h", vtepAddress: "192.0.2.1" }) { host { id } } }');
    const { createNetwork } = await ctl.gql('mutation { createNetwork(input: { name: "n" }) { id } }');
    await ctl.gql('mutation($n: ID!) { createSubnet(input: { name: "s", networkId: $n, cidr: "10.64.0.0/22" }) { id } }', { n: createNetwork.id });
    const spy = jest.spyOn(runner.prototype, 'query');
    try {
      await ctl.gql('mutation($inputs: [CreatePortInput!]!) { createPorts(inputs: $inputs) { id } }', {
        inputs: Array.from({ length: 1000 }, (_, i) => ({ name: `p${i}`, networkId: createNetwork.id, hostId: createHost.host.id })),
      });
      const sql = spy.mock.calls.map(([text]) => String(text));
      const audit = sql.flatMap((text, i) => (/^INSERT INTO "audit_entries"/.test(text) ? [i] : []));
      expect(audit).toHaveLength(2);
      // Inside the transaction: after the change rows, before COMMIT.
      const commit = sql.findIndex((text, i) => i > audit[1] && /^COMMIT/.test(text));
      const changes = sql.findIndex((text) => /^INSERT INTO "changes"/.test(text));
      expect(changes >= 0 && changes < audit[0] && commit > audit[1]).toBe(true);
    } finally {
      spy.mockRestore();
    }
    const { auditEntries } = await ctl.gql('{ auditEntries(filter: { kind: "Port" }, first: 1) { totalCount } }');
    expect(auditEntries.totalCount).toBe(1000);
  } finally {
    await ctl.close();
  }
});

// In-process, so the SQL of a page filtered by kind and since can be read and explained: the id
// bound walks the (kind, id) index on both stores (PostgreSQL told to avoid a sequential scan, as
// a table this small would otherwise get one).
it('walks the (kind, id) index for a page filtered by kind and since, on SQLite and PostgreSQL', async () => {
  const ctl = await inProcessController('audit-since-plan');
  const postgres = testStore() === 'postgres';
  const runner = postgres ? PostgresQueryRunner : BetterSqlite3QueryRunner;
  try {
    for (let i = 0; i < 3; i++) await ctl.gql('mutation($name: String!) { createNetwork(input: { name: $name }) { id } }', { name: `n${i}` });
    const spy = jest.spyOn(runner.prototype, 'query');
    let page: [string, unknown[]];
    try {
      const since = new Date(Date.now() - 60_000).toISOString();
      const { auditEntries } = await ctl.gql('query($since: DateTime) { auditEntries(filter: { kind: "Network", since: $since }, first: 2) { edges { node { id } } } }', { since });
      expect(auditEntries.edges).toHaveLength(2);
      page = spy.mock.calls.map(([sql, params]) => [String(sql), (params ?? []) as unknown[]] as [string, unknown[]]).find(([sql]) => /FROM "audit_entries".*LIMIT/s.test(sql))!;
    } finally {
      spy.mockRestore();
    }
    const dataSource = ctl.app.get(DataSource);
    const qr = dataSource.createQueryRunner();
    try {
      let plan: string;
      if (postgres) {
        await qr.query('SET enable_seqscan = off');
        plan = ((await qr.query(`EXPLAIN ${page[0]}`, page[1])) as { 'QUERY PLAN': string }[]).map((r) => r['QUERY PLAN']).join('\n');
        expect(plan).toMatch(/Index Scan Backward using ix_audit_entries_kind/);
        expect(plan).toMatch(/Index Cond: \(+kind\)::text = 'Network'::text\) AND \(+id\)::text >= /);
      } else {
        plan = ((await qr.query(`EXPLAIN QUERY PLAN ${page[0]}`, page[1])) as { detail: string }[]).map((r) => r.detail).join('\n');
        expect(plan).toMatch(/SEARCH a USING INDEX ix_audit_entries_kind \(kind=\? AND id>\?\)/);
      }
      expect(plan).not.toMatch(/TEMP B-TREE|Sort/);
    } finally {
      await qr.release();
    }
  } finally {
    await ctl.close();
  }
});
