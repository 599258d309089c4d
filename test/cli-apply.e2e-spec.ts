/**
 * `netloom diff` and `netloom apply` as built, against a built controller whose hosts the file
 * itself creates (fake agents join with the tokens apply prints): a topology with every core kind
 * and two plugin kinds, nothing to do on re-apply, a change, prune, a stale generation, bad files
 * applying nothing, and --wait's exit codes.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { FakeAgent } from '@netloom/simhosts';
import { baseUrl } from './support/agent';
import { runCli, type CliRun } from './support/cli';
import { createNetwork, uniqueName, useController } from './support/fixtures';

jest.setTimeout(180_000);

describe('netloom diff and apply', () => {
  const ctl = useController();
  const dir = mkdtempSync(join(tmpdir(), 'netloom-apply-e2e-'));
  const config = join(dir, 'config.yaml');
  const file = join(dir, 'topo.yaml');
  const agents: FakeAgent[] = [];
  const owner = uniqueName('lab');
  const n = { h1: uniqueName('h1'), h2: uniqueName('h2'), blue: uniqueName('blue'), v4: uniqueName('v4'), web: uniqueName('web'), db: uniqueName('db') };
  const g = { office: uniqueName('office'), policy: uniqueName('web-in') };

  const cli = (args: string[]): Promise<CliRun> => runCli(config, args);
  const ok = async (args: string[]): Promise<string> => {
    const run = await cli(args);
    expect({ args, code: run.code, stderr: run.stderr }).toEqual({ args, code: 0, stderr: '' });
    return run.stdout;
  };
  const gql = <T>(query: string, variables?: Record<string, unknown>): Promise<T> => ctl().ok<T>(query, variables);
  const networkOf = async (name: string) =>
    (await gql<{ networks: { edges: { node: { id: string; mtu: number | null; generation: number; labels: { key: string; value: string }[] } }[] } }>(
      'query($name: String) { networks(filter: { name: $name }) { edges { node { id mtu generation labels { key value } } } } }',
      { name },
    )).networks.edges[0]?.node;
  const portOf = async (name: string) =>
    (await gql<{ ports: { edges: { node: { id: string; networkId: string; hostId: string; labels: { key: string; value: string }[]; fixedIps: { ipAddress: string }[] } }[] } }>(
      'query($name: String) { ports(filter: { name: $name }) { edges { node { id networkId hostId labels { key value } fixedIps { ipAddress } } } } }',
      { name },
    )).ports.edges[0]?.node;
  const revision = async (): Promise<number> => (await gql<{ revision: number }>('{ revision }')).revision;

  /** The topology, with what a test changes. */
  const topology = (o: { mtu?: number; dbLabels?: Record<string, string>; withDb?: boolean; webLabels?: Record<string, string>; blueGeneration?: number } = {}): string =>
    stringify({
      owner,
      hosts: [
        { name: n.h1, vtepAddress: '192.0.2.71' },
        { name: n.h2, vtepAddress: '192.0.2.72' },
      ],
      networks: [{ name: n.blue, mtu: o.mtu ?? 1400, labels: { env: 'dev' }, ...(o.blueGeneration ? { generation: o.blueGeneration } : {}) }],
      subnets: [{ name: n.v4, network: n.blue, cidr: '10.73.0.0/24' }],
      ports: [
        { name: n.web, network: n.blue, host: n.h1, fixedIps: [{ subnet: n.v4 }], labels: o.webLabels ?? { tier: 'web' } },
        ...(o.withDb === false ? [] : [{ name: n.db, network: n.blue, host: n.h2, labels: o.dbLabels ?? { tier: 'db' } }]),
      ],
      'address-groups': [{ name: g.office, cidrs: ['198.51.100.0/24'] }],
      'firewall-policies': [
        {
          name: g.policy,
          selector: { ports: [n.web] },
          rules: [{ priority: 10, direction: 'INGRESS', action: 'ALLOW', protocol: 'TCP', ports: [{ from: 80 }], remoteGroups: [g.office] }],
        },
      ],
    });
  const write = (text: string): string => {
    writeFileSync(file, text);
    return file;
  };

  beforeAll(async () => {
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, ctl().adminToken, { mode: 0o600 });
    await ok(['login', '--url', ctl().url, '--token-file', tokenFile, '--context', 'e2e']);
  });

  afterAll(async () => {
    for (const agent of agents) await agent.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('diffs then applies a topology with hosts, networks, subnets, ports and plugin kinds, references by name', async () => {
    write(topology());
    const diff = await cli(['diff', '-f', file]);
    expect({ code: diff.code, stderr: diff.stderr }).toEqual({ code: 1, stderr: '' });
    expect(diff.stdout).toContain(`+ Port ${n.web}\n    network: ${n.blue}\n    host: ${n.h1}\n    fixedIps: [ { subnet: ${n.v4} } ]`);
    expect(diff.stdout).toContain('8 to create, 0 to change, 0 to delete.');

    const applied = await ok(['apply', '-f', file]);
    // Dependency order: hosts, networks, subnets, ports, then the plugin kinds (groups before the policy that names them).
    expect(applied.split('\n').map((l) => l.split(/[ ;]/).slice(0, 3).join(' '))).toEqual([
      `Host ${n.h1} created`,
      `Host ${n.h2} created`,
      `Network ${n.blue} created`,
      `Subnet ${n.v4} created`,
      `Port ${n.web} created`,
      `Port ${n.db} created`,
      `AddressGroup ${g.office} created`,
      `FirewallPolicy ${g.policy} created`,
      'Applied: 8 created,',
      '',
    ]);
    // The hosts' agents join with the tokens apply printed.
    for (const token of [...applied.matchAll(/joinToken: (\S+)/g)].map((m) => m[1])) {
      const agent = await FakeAgent.join(baseUrl(ctl().url), token);
      agents.push(agent);
      await agent.connect();
    }
    expect(agents).toHaveLength(2);

    const blue = (await networkOf(n.blue));
    const web = (await portOf(n.web));
    expect(blue).toMatchObject({ mtu: 1400 });
    expect(blue.labels).toEqual([{ key: 'env', value: 'dev' }, { key: 'netloom.io/applied-by', value: owner }]);
    expect(web.networkId).toBe(blue.id);
    expect(web.fixedIps[0].ipAddress).toMatch(/^10\.73\.0\./);
    const policy = await gql<{ firewallPolicies: { edges: { node: { selector: { portIds: string[] }; rules: { remoteGroupIds: string[] }[] } }[] } }>(
      'query($name: String) { firewallPolicies(filter: { name: $name }) { edges { node { selector { portIds } rules { remoteGroupIds } } } } }',
      { name: g.policy },
    );
    const office = await gql<{ addressGroup: { id: string } }>('query($name: String) { addressGroup(name: $name) { id } }', { name: g.office });
    expect(policy.firewallPolicies.edges[0].node).toEqual({ selector: { portIds: [web.id] }, rules: [{ remoteGroupIds: [office.addressGroup.id] }] });
  });

  it('finds nothing to do when the same file is applied again', async () => {
    const before = await revision();
    expect(await ok(['diff', '-f', file])).toBe('No changes: the API already matches the file.\n');
    expect(await ok(['apply', '-f', file])).toBe('Nothing changed: the API already matches the file.\n');
    expect(await revision()).toBe(before);
  });

  it('shows a change field by field, then applies only that', async () => {
    write(topology({ mtu: 1300, dbLabels: { tier: 'db', zone: 'a' } }));
    const diff = await cli(['diff', '-f', file]);
    expect(diff.code).toBe(1);
    expect(diff.stdout).toBe(
      [
        `~ Network ${n.blue}`,
        '    mtu: 1400 → 1300',
        `~ Port ${n.db}`,
        `    labels: { netloom.io/applied-by: ${owner}, tier: db } → { netloom.io/applied-by: ${owner}, tier: db, zone: a }`,
        '0 to create, 2 to change, 0 to delete.',
        '',
      ].join('\n'),
    );
    const before = await networkOf(n.blue);
    expect(await ok(['apply', '-f', file])).toBe(`Network ${n.blue} changed (mtu)\nPort ${n.db} changed (labels)\nApplied: 0 created, 2 changed, 0 deleted.\n`);
    expect(await networkOf(n.blue)).toMatchObject({ mtu: 1300, generation: before.generation + 1 });
    expect((await cli(['diff', '-f', file])).code).toBe(0);
  });

  it('prunes what it created and the file no longer names, never what was made outside it', async () => {
    const outside = await createNetwork(ctl(), { name: uniqueName('outside') });
    write(topology({ mtu: 1300, withDb: false }));
    // Without --prune, a removed object is left alone.
    expect(await ok(['diff', '-f', file])).toContain('No changes');
    const diff = await cli(['diff', '-f', file, '--prune']);
    expect(diff.stdout).toBe(`- Port ${n.db}\n0 to create, 0 to change, 1 to delete.\n`);
    expect(await ok(['apply', '-f', file, '--prune'])).toBe(`Port ${n.db} deleted\nApplied: 0 created, 0 changed, 1 deleted.\n`);
    expect(await portOf(n.db)).toBeUndefined();
    expect(await networkOf(outside.name)).toBeDefined();
    expect((await cli(['diff', '-f', file, '--prune'])).code).toBe(0);
  });

  it('refuses an update at a stale generation as a conflict, changing nothing', async () => {
    const blue = (await networkOf(n.blue));
    // Someone changed it through the API after the file was written for the generation it saw.
    await gql('mutation($input: UpdateNetworkInput!) { updateNetwork(input: $input) { id } }', { input: { id: blue.id, mtu: 1350 } });
    write(topology({ mtu: 1200, withDb: false, blueGeneration: blue.generation }));
    expect((await cli(['diff', '-f', file])).stdout).toContain('mtu: 1350 → 1200');
    const run = await cli(['apply', '-f', file]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`error: Network "${n.blue}" was changed by someone else since it was read: Network ${blue.id} is at generation ${blue.generation + 1}, not ${blue.generation}`);
    expect(run.stderr).toContain('(CONFLICT); run netloom diff and apply again');
    expect(await networkOf(n.blue)).toMatchObject({ mtu: 1350 });
  });

  it('reports bad files with line and column, and applies nothing of them', async () => {
    const syntax = await cli(['apply', '-f', write(`networks:\n  - name: x\n    mtu: [1400\n`)]);
    expect(syntax.code).toBe(1);
    expect(syntax.stderr).toMatch(new RegExp(`nothing applied:\\n  ${file}:4:1: `));
    expect((await cli(['diff', '-f', file])).code).toBe(2);

    const fresh = uniqueName('fresh');
    write(
      [
        `networks:`,
        `  - name: ${fresh}`,
        `  - name: ${uniqueName('other')}`,
        `    colour: red`,
        `widgets:`,
        `  - name: w`,
        `ports:`,
        `  - name: ${uniqueName('p')}`,
        `    network: ${fresh}`,
        `    host: no-such-host`,
        '',
      ].join('\n'),
    );
    const before = await revision();
    const run = await cli(['apply', '-f', file]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`${file}:4:5: unknown field "colour" in Network`);
    expect(run.stderr).toContain(`${file}:5:1: unknown kind "widgets" (kinds: hosts, networks, subnets, ports, address-groups, firewall-policies, load-balancers, routers, taps)`);
    // With the file otherwise right, the name found nowhere is reported, and still nothing is applied.
    write([`networks:`, `  - name: ${fresh}`, `ports:`, `  - name: ${uniqueName('p')}`, `    network: ${fresh}`, `    host: no-such-host`, ''].join('\n'));
    const missing = await cli(['apply', '-f', file]);
    expect(missing.stderr).toBe(`error: 1 problem(s) in the file, nothing applied:\n  ${file}:6:11: no Host named "no-such-host" in the file or the API\n`);
    expect(await networkOf(fresh)).toBeUndefined();
    expect(await revision()).toBe(before);
  });

  it('--wait shows each host applying, and exits non-zero with the reason when a host fails', async () => {
    write(topology({ mtu: 1350, withDb: false, webLabels: { tier: 'web', rev: '2' } }));
    const waited = await ok(['apply', '-f', file, '--wait']);
    expect(waited).toBe(`Port ${n.web} changed (labels)\n  ${n.h1}  APPLIED\nApplied: 0 created, 1 changed, 0 deleted.\n`);

    const web = (await portOf(n.web));
    agents[0].fail({ kind: 'Port', id: web.id }, 'veth: RTNETLINK answers: File exists');
    write(topology({ mtu: 1350, withDb: false, webLabels: { tier: 'web', rev: '3' } }));
    const run = await cli(['apply', '-f', file, '--wait']);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(`  ${n.h1}  FAILED: veth: RTNETLINK answers: File exists`);
    expect(run.stderr).toBe(`error: Port "${n.web}" FAILED on ${n.h1}: veth: RTNETLINK answers: File exists\n`);
  });
});
