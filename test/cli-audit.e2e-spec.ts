/**
 * `netloom audit` as built, against a built controller: the mutations `apply` and `delete` make
 * are listed newest first with token, role, operation, kind and name, and shown field by field
 * with --diff; filters by kind, object (name or id), token name, --since and --limit; JSON and
 * YAML; a viewer refused with a clear error; bad --since and --limit refused before any request.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { runCli, type CliRun } from './support/cli';
import { uniqueName, useController } from './support/fixtures';

jest.setTimeout(120_000);

interface JsonEntry {
  id: string;
  at: string;
  tokenName: string;
  tokenRole: string;
  mutation: string;
  operation: string;
  kind: string;
  objectId: string;
  objectName: string;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
}

describe('netloom audit', () => {
  const ctl = useController();
  const dir = mkdtempSync(join(tmpdir(), 'netloom-audit-e2e-'));
  const config = join(dir, 'config.yaml');
  const file = join(dir, 'topo.yaml');
  const n = { blue: uniqueName('blue'), v4: uniqueName('v4'), other: uniqueName('other'), ops: uniqueName('ops') };
  let blueId = '';
  let otherId = '';
  let mark = '';

  const cli = (args: string[]): Promise<CliRun> => runCli(config, args);
  const ok = async (args: string[]): Promise<string> => {
    const run = await cli(args);
    expect({ args, code: run.code, stderr: run.stderr }).toEqual({ args, code: 0, stderr: '' });
    return run.stdout;
  };
  const json = async (args: string[]): Promise<JsonEntry[]> => JSON.parse(await ok([...args, '-o', 'json'])) as JsonEntry[];
  /** The table's rows split on the column gaps, without the header. */
  const rows = (table: string): string[][] =>
    table
      .trim()
      .split('\n')
      .slice(1)
      .map((line) => line.split(/ {3,}/));
  const topology = (mtu: number): string =>
    stringify({ networks: [{ name: n.blue, mtu }], subnets: [{ name: n.v4, network: n.blue, cidr: '10.74.0.0/24' }] });

  beforeAll(async () => {
    const c = ctl();
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, c.adminToken, { mode: 0o600 });
    const viewer = (await c.ok<{ createApiToken: { secret: string } }>('mutation { createApiToken(input: { name: "audit-viewer", role: VIEWER }) { secret } }')).createApiToken.secret;
    await ok(['login', '--url', c.url, '--token', viewer, '--context', 'viewer']);
    await ok(['login', '--url', c.url, '--token-file', tokenFile, '--context', 'admin']);

    // As the admin, through the CLI: a network and a subnet, a change of the network, its deletion.
    writeFileSync(file, topology(1400));
    await ok(['apply', '-f', file]);
    writeFileSync(file, topology(1450));
    await ok(['apply', '-f', file]);
    blueId = (await c.ok<{ networks: { edges: { node: { id: string } }[] } }>('query($name: String) { networks(filter: { name: $name }) { edges { node { id } } } }', { name: n.blue }))
      .networks.edges[0].node.id;
    await ok(['delete', 'network', n.blue, '--cascade']);
    // Then, with a second admin token, another network: after `mark`.
    await new Promise((done) => setTimeout(done, 20));
    mark = new Date().toISOString();
    const ops = (await c.ok<{ createApiToken: { secret: string } }>('mutation($name: String!) { createApiToken(input: { name: $name, role: ADMIN }) { secret } }', { name: n.ops }))
      .createApiToken.secret;
    otherId = (await c.ok<{ createNetwork: { id: string } }>('mutation($name: String!) { createNetwork(input: { name: $name, mtu: 1300 }) { id } }', { name: n.other }, ops)).createNetwork.id;
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('lists every mutation newest first: time, token, role, operation, kind, name', async () => {
    const table = await ok(['audit']);
    expect(table.split('\n')[0].split(/ {3,}/)).toEqual(['TIME', 'TOKEN', 'ROLE', 'OPERATION', 'KIND', 'NAME']);
    const listed = rows(table);
    expect(listed.slice(0, 6).map((r) => r.slice(1))).toEqual([
      [n.ops, 'ADMIN', 'CREATE', 'Network', n.other],
      ['bootstrap-admin', 'ADMIN', 'CREATE', 'ApiToken', n.ops],
      ['bootstrap-admin', 'ADMIN', 'DELETE', 'Network', n.blue],
      ['bootstrap-admin', 'ADMIN', 'DELETE', 'Subnet', n.v4],
      ['bootstrap-admin', 'ADMIN', 'UPDATE', 'Network', n.blue],
      ['bootstrap-admin', 'ADMIN', 'CREATE', 'Subnet', n.v4],
    ]);
    expect(listed.map((r) => Date.parse(r[0]))).toEqual([...listed.map((r) => Date.parse(r[0]))].sort((a, b) => b - a));
    const wide = rows(await ok(['audit', '-o', 'wide', '--limit', '1']));
    expect(wide).toEqual([[expect.any(String), n.ops, 'ADMIN', 'CREATE', 'Network', n.other, 'createNetwork', otherId]]);
  });

  it('shows each change of an object field by field with --diff, found by id once it is deleted', async () => {
    const byId = await ok(['audit', 'network', blueId, '--diff']);
    const [deleted, updated, created] = byId.trim().split('\n\n');
    expect(deleted.split('\n')[0]).toMatch(new RegExp(`^\\S+  bootstrap-admin \\(ADMIN\\)  DELETE Network ${n.blue}  by deleteNetwork$`));
    expect(deleted).toContain('    - mtu: 1450');
    expect(updated.split('\n').slice(1).filter((l) => !l.startsWith('    ~ updatedAt:'))).toEqual(['    ~ generation: 1 → 2', '    ~ mtu: 1400 → 1450']);
    expect(created).toContain(`    + name: ${n.blue}`);
    expect(created).toContain('    + mtu: 1400');
    expect(created.split('\n')[0]).toMatch(/CREATE Network .* by createNetwork$/);

    // The same entries as JSON, with the stored object before and after.
    const entries = await json(['audit', 'network', blueId]);
    expect(entries.map((e) => [e.operation, e.before?.mtu ?? null, e.after?.mtu ?? null])).toEqual([
      ['DELETE', 1450, null],
      ['UPDATE', 1400, 1450],
      ['CREATE', null, 1400],
    ]);
    // By name, the object must exist now: a deleted one is asked for by id.
    const gone = await cli(['audit', 'network', n.blue]);
    expect([gone.code, gone.stderr.trim()]).toEqual([1, `error: no Network is named "${n.blue}" now: give the object's id instead (netloom audit network -o wide shows it)`]);
    const live = await json(['audit', 'networks', n.other]);
    expect(live.map((e) => [e.objectId, e.operation])).toEqual([[otherId, 'CREATE']]);
  });

  it('filters by kind, token name, --since and --limit, also together', async () => {
    const subnets = await json(['audit', 'subnets']);
    expect(subnets.map((e) => [e.kind, e.objectName, e.operation])).toEqual([
      ['Subnet', n.v4, 'DELETE'],
      ['Subnet', n.v4, 'CREATE'],
    ]);
    expect((await json(['audit', 'api-tokens'])).every((e) => e.kind === 'ApiToken')).toBe(true);
    expect((await json(['audit', '--token-name', n.ops])).map((e) => e.objectId)).toEqual([otherId]);
    expect(await json(['audit', 'subnets', '-t', n.ops])).toEqual([]);

    const all = await json(['audit']);
    const since = await json(['audit', '--since', mark]);
    expect(since.map((e) => e.objectName)).toEqual([n.other, n.ops]);
    expect(all.length).toBeGreaterThan(since.length);
    expect((await json(['audit', '--since', '1h'])).length).toBe(all.length);
    expect((await json(['audit', 'networks', '--since', mark])).map((e) => e.objectId)).toEqual([otherId]);

    const two = await json(['audit', '--limit', '2']);
    expect(two.map((e) => e.id)).toEqual(all.slice(0, 2).map((e) => e.id));
    const yaml = parse(await ok(['audit', '--limit', '1', '-o', 'yaml'])) as JsonEntry[];
    expect(yaml).toEqual([all[0]]);
    expect(await ok(['audit', 'subnets', '--since', mark])).toBe('No audit entries found.\n');
  });

  it('refuses a viewer with a clear error, and bad options before asking the API', async () => {
    const viewer = await cli(['--context', 'viewer', 'audit']);
    expect([viewer.code, viewer.stdout]).toEqual([1, '']);
    expect(viewer.stderr.trim()).toBe('error: the audit log is for admin tokens only: the viewer role may not run auditEntries (FORBIDDEN)');
    const since = await cli(['audit', '--since', 'yesterday']);
    expect([since.code, since.stderr.trim()]).toEqual([1, 'error: --since takes a duration (90s, 15m, 1h, 2d) or a time (2026-12-03T10:00:00Z), not "yesterday"']);
    const limit = await cli(['audit', '--limit', '0']);
    expect(limit.code).toBe(1);
    expect(limit.stderr).toContain("option '--limit <n>' argument '0' is invalid. a whole number of at least 1");
    const kind = await cli(['audit', 'gizmos']);
    expect([kind.code, kind.stderr]).toEqual([1, expect.stringContaining('unknown kind "gizmos"')]);
    expect(await ok(['audit', '--help'])).toContain('--diff');
  });
});
