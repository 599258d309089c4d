/**
 * The plan per host: `netloom diff --hosts` (the built CLI) and the `plan` query behind it, against
 * a built controller with one real agent on this machine (prefix P, in the root namespace, its
 * Linux names cleaned up afterwards even on failure) and one fake agent on a second host of the
 * same network. The plan names each affected host's lines; nothing of it is kept (revision,
 * objects, audit); `apply` then makes on the real host what the plan said; bad steps are refused
 * with a code, leaving nothing behind.
 */
import { randomInt } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { Names } from '@netloom/planner';
import { FakeAgent } from '@netloom/simhosts';
import { AgentProcess, baseUrl, cleanupKernel, links, netnsList, run, waitFor, waitForDist } from './support/agent';
import { runCli, type CliRun } from './support/cli';
import { errorCode } from './support/controller';
import { uniqueName, useController } from './support/fixtures';

jest.setTimeout(180_000);

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
/** This run's prefix: 'p' + 3 random [a-z0-9]. */
const P = `p${Array.from({ length: 3 }, () => ALPHABET[randomInt(ALPHABET.length)]).join('')}`;
/**
 * The network's VNI, per run: this file's real agent makes VXLAN devices in the root namespace,
 * where two devices with one VNI cannot coexist (the SQLite and PostgreSQL runs of this file may
 * run at once, each controller numbering from the same start).
 */
const VNI = randomInt(100_000, 16_000_000);

interface PlanCommand {
  tool: string;
  netns: string | null;
  line: string;
}
interface HostPlan {
  hostId: string;
  hostName: string;
  prefix: string;
  prefixReported: boolean;
  resources: { kind: string; id: string; name: string | null; change: string; byPlugin: boolean; commands: PlanCommand[]; fields: { field: string; before: string | null; after: string | null }[] }[];
  portSecurity: PlanCommand[];
}
const PLAN = `query($steps: [PlanStepInput!]!) { plan(steps: $steps) {
  assumption steps { name mutation ids }
  hosts { hostId hostName prefix prefixReported portSecurity { tool netns line }
    resources { kind id name change byPlugin commands { tool netns line } fields { field before after } } } } }`;

describe(`plan per host (real agent prefix ${P})`, () => {
  const ctl = useController();
  const dir = mkdtempSync(join(tmpdir(), 'netloom-plan-e2e-'));
  const config = join(dir, 'config.yaml');
  const file = join(dir, 'topo.yaml');
  const owner = uniqueName('plan');
  const n = { a: uniqueName(`${P}-a`), b: uniqueName(`${P}-b`), blue: uniqueName('blue'), v4: uniqueName('v4'), web: uniqueName('web'), db: uniqueName('db'), old: uniqueName('old'), api: uniqueName('api'), fw: uniqueName('fw'), green: uniqueName('green'), g4: uniqueName('g4'), gp: uniqueName('gp') };
  let agent: AgentProcess | undefined;
  let fake: FakeAgent | undefined;
  let hostA = '';
  let hostB = '';

  const cli = (args: string[]): Promise<CliRun> => runCli(config, args);
  const gql = <T>(query: string, variables?: Record<string, unknown>): Promise<T> => ctl().ok<T>(query, variables);
  const revision = async (): Promise<number> => (await gql<{ revision: number }>('{ revision }')).revision;
  const counts = async () =>
    gql<{ networks: { totalCount: number }; ports: { totalCount: number }; subnets: { totalCount: number }; auditEntries: { edges: unknown[] } }>(
      '{ networks { totalCount } ports { totalCount } subnets { totalCount } auditEntries(first: 100) { edges { cursor } } }',
    );
  const byName = async (kind: 'ports' | 'networks', name: string) =>
    (await gql<Record<string, { edges: { node: { id: string; fixedIps?: { ipAddress: string }[]; macAddress?: string } }[] }>>(
      `query($name: String) { ${kind}(filter: { name: $name }) { edges { node { id ${kind === 'ports' ? 'macAddress fixedIps { ipAddress }' : ''} } } } }`,
      { name },
    ))[kind].edges[0]?.node;
  const topology = (o: { mtu: number; ports: { name: string; host: string }[]; policy?: boolean; green?: boolean }): string =>
    stringify({
      owner,
      hosts: [
        { name: n.a, vtepAddress: '192.0.2.91' },
        { name: n.b, vtepAddress: '192.0.2.92' },
      ],
      networks: [{ name: n.blue, mtu: o.mtu, vni: VNI }, ...(o.green ? [{ name: n.green }] : [])],
      subnets: [{ name: n.v4, network: n.blue, cidr: '10.94.0.0/24' }, ...(o.green ? [{ name: n.g4, network: n.green, cidr: '10.98.0.0/24' }] : [])],
      ports: [
        ...o.ports.map((p) => ({ name: p.name, network: n.blue, host: p.host, fixedIps: [{ subnet: n.v4 }] })),
        ...(o.green ? [{ name: n.gp, network: n.green, host: n.a, fixedIps: [{ subnet: n.g4 }] }] : []),
      ],
      ...(o.policy
        ? {
            'firewall-policies': [
              {
                name: n.fw,
                selector: { ports: [n.db] },
                rules: [{ priority: 10, direction: 'INGRESS', action: 'ALLOW', protocol: 'TCP', ports: [{ from: 80 }], remoteCidrs: ['198.51.100.0/24'] }],
              },
            ],
          }
        : {}),
    });
  const first = topology({ mtu: 1400, ports: [{ name: n.web, host: n.a }, { name: n.old, host: n.a }, { name: n.db, host: n.b }] });
  // A new port on the network spanning both hosts, a changed MTU, a port gone (--prune), a plugin kind placed on B,
  // and a new network with its subnet and a port (steps referring to the steps that create them).
  const second = topology({ mtu: 1300, ports: [{ name: n.web, host: n.a }, { name: n.api, host: n.a }, { name: n.db, host: n.b }], policy: true, green: true });
  const agentApplied = async (): Promise<void> => {
    const target = await revision();
    await waitFor(
      async () => (await gql<{ host: { agent: { appliedRevision: number } | null } }>('query($id: ID!) { host(id: $id) { agent { appliedRevision } } }', { id: hostA })).host.agent?.appliedRevision === target,
      30_000,
      200,
      `the real agent applied revision ${target}`,
    );
  };
  const cleanup = async (): Promise<void> => {
    await agent?.kill9().catch(() => undefined);
    await fake?.close().catch(() => undefined);
    await cleanupKernel(P).catch(() => []);
    // VXLAN devices (`<P>x…`) are not in cleanupKernel's pattern.
    for (const l of await links().catch(() => [])) if (new RegExp(`^${P}x[0-9a-f]{8}$`).test(l.ifname)) await run('ip', ['link', 'delete', 'dev', l.ifname]);
  };

  beforeAll(async () => {
    try {
      await waitForDist();
      const tokenFile = join(dir, 'token');
      writeFileSync(tokenFile, ctl().adminToken, { mode: 0o600 });
      expect((await cli(['login', '--url', ctl().url, '--token-file', tokenFile, '--context', 'e2e'])).code).toBe(0);
      writeFileSync(file, first);
      const applied = await cli(['apply', '-f', file]);
      expect({ code: applied.code, stderr: applied.stderr }).toEqual({ code: 0, stderr: '' });
      const [tokenA, tokenB] = [...applied.stdout.matchAll(/joinToken: (\S+)/g)].map((m) => m[1]);
      const hosts = await gql<{ hosts: { edges: { node: { id: string; name: string } }[] } }>('{ hosts(first: 100) { edges { node { id name } } } }');
      hostA = hosts.hosts.edges.find((e) => e.node.name === n.a)!.node.id;
      hostB = hosts.hosts.edges.find((e) => e.node.name === n.b)!.node.id;
      const stateDir = mkdtempSync(join(dir, 'agent-'));
      agent = await AgentProcess.start({ controllerUrl: baseUrl(ctl().url), joinToken: tokenA, prefix: P, stateDir, resyncMs: 2_000 });
      await agent.waitForLog(/joined as host/, 15_000);
      fake = await FakeAgent.join(baseUrl(ctl().url), tokenB);
      await fake.connect();
      await agentApplied();
    } catch (error) {
      await cleanup();
      throw error;
    }
  });

  afterAll(async () => {
    await cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('diff --hosts shows each affected host\'s lines, keeps nothing, and apply makes what it said', async () => {
    const blue = await byName('networks', n.blue);
    const old = await byName('ports', n.old);
    const web = await byName('ports', n.web);
    const a = new Names(P, hostA);
    const b = new Names('nl', hostB);
    const before = { revision: await revision(), counts: await counts() };

    writeFileSync(file, second);
    const diff = await cli(['diff', '-f', file, '--prune', '--hosts']);
    expect({ code: diff.code, stderr: diff.stderr }).toEqual({ code: 1, stderr: '' });
    const out = diff.stdout;
    // The object diff as before, then per host.
    expect(out).toContain(`+ Port ${n.api}`);
    expect(out).toContain(`~ Network ${n.blue}\n    mtu: 1400 → 1300`);
    expect(out).toContain(`- Port ${n.old}`);
    expect(out).toContain('Per host (each host is at its applied revision');
    const section = (host: string): string => {
      const start = out.indexOf(`host ${host} (`);
      expect(start).toBeGreaterThan(0);
      const next = out.indexOf('\nhost ', start + 1);
      return out.slice(start, next < 0 ? undefined : next);
    };
    const onA = section(n.a);
    const onB = section(n.b);
    expect(onA).toContain(`host ${n.a} (names with prefix ${P})`);
    expect(onB).toContain(`host ${n.b} (agent did not report its prefix: names assume nl)`);
    // A: the bridge, the VXLAN device and the untouched port's veth to the new MTU; the new port made; the old one removed.
    expect(onA).toContain(
      [
        `~ Network ${n.blue}`,
        `ip link set dev ${a.bridge(blue.id)} mtu 1300`,
        `ip link set dev ${a.bridge(blue.id)} up`,
        `ip link set dev ${a.vxlan(blue.id)} mtu 1300 master ${a.bridge(blue.id)}`,
      ].join('\n      '),
    );
    expect(onA).toContain(`~ Port ${n.web}\n      ip link set dev ${a.veth(web.id)} mtu 1300 master ${a.bridge(blue.id)}`);
    expect(onA).toContain(`ip -n ${a.portNetns(web.id)} link set dev eth0 mtu 1300 address ${web.macAddress}`);
    expect(onA).toMatch(new RegExp(`\\+ Port ${n.api}\\n {6}ip netns add ${P}-${a.hostTag}-[0-9a-f]{10}\\n`));
    expect(onA).toContain(`- Port ${n.old}\n      ip netns del ${a.portNetns(old.id)}\n      ip link del dev ${a.veth(old.id)}`);
    // B: its network to the new MTU, and the new port's entries (A's VTEP) on its VXLAN device, under the assumed prefix.
    expect(onB).toContain(`~ Network ${n.blue}`);
    expect(onB).toContain(`ip link set dev ${b.bridge(blue.id)} mtu 1300\n      ip link set dev ${b.bridge(blue.id)} up`);
    expect(onB).toMatch(new RegExp(`bridge fdb replace [0-9a-f:]{17} dev ${b.vxlan(blue.id)} dst 192\\.0\\.2\\.91`));
    expect(onB).toMatch(new RegExp(`ip neigh del ${old.fixedIps![0].ipAddress.replace(/\./g, '\\.')} dev ${b.vxlan(blue.id)}`));
    // The firewall policy, placed by its plugin's controller half on B only (db's host): its spec, no commands.
    expect(onB).toContain(`+ FirewallPolicy ${n.fw} (commands decided by its plugin on the host)\n      egressDefault: <unset> → "ALLOW"`);
    expect(onB).toContain('      rules: <unset> → [{"priority":10,"direction":"INGRESS","protocol":"TCP","ports":[[80,80]],"remoteCidrs":["198.51.100.0/24"]');
    expect(onA).not.toContain('FirewallPolicy');
    expect(onA).toMatch(new RegExp(`\\+ Network ${n.green}\\n {6}ip link add name ${P}b[0-9a-f]{8} type bridge mcast_snooping 0\\n`));
    expect(onA).toMatch(new RegExp(`\\+ Port ${n.gp}\\n(?: {6}.*\\n)*? {6}ip -n ${P}-${a.hostTag}-[0-9a-f]{10} addr replace 10\\.98\\.0\\.2/24 dev eth0`));
    expect(onB).not.toContain(n.green);
    // The port security of A's host table: the new port's elements in, the old one's out.
    expect(onA).toContain('~ port security (nft -f)');
    expect(onA).toContain(`delete element bridge ${P}_portsec s_ports { "${a.veth(old.id)}" }`);
    const planned = /\+ Port [^\n]*\n(?:.*\n)*? {6}ip -n (\S+) addr replace (\S+) dev eth0/.exec(onA.slice(onA.indexOf(`+ Port ${n.api}`)));
    expect(planned).not.toBeNull();
    const plannedAddress = planned![2];

    // Nothing was kept: the revision, the objects, the audit log; the new port does not exist.
    expect(await revision()).toBe(before.revision);
    expect(await counts()).toEqual(before.counts);
    expect(await byName('ports', n.api)).toBeUndefined();

    // Applied for real, the real host gets what the plan said (the new port's id, so its names and MAC, are new).
    const applied = await cli(['apply', '-f', file, '--prune']);
    expect({ code: applied.code, stderr: applied.stderr }).toEqual({ code: 0, stderr: '' });
    await agentApplied();
    const api = await byName('ports', n.api);
    expect(`${api.fixedIps![0].ipAddress}/24`).toBe(plannedAddress);
    const kernel = new Map((await links()).map((l) => [l.ifname, l as unknown as { mtu: number; master?: string }]));
    expect(kernel.get(a.bridge(blue.id))?.mtu).toBe(1300);
    expect(kernel.get(a.vxlan(blue.id))).toMatchObject({ mtu: 1300, master: a.bridge(blue.id) });
    expect(kernel.get(a.veth(web.id))).toMatchObject({ mtu: 1300, master: a.bridge(blue.id) });
    expect(kernel.get(a.veth(api.id))).toMatchObject({ mtu: 1300, master: a.bridge(blue.id) });
    expect(kernel.has(a.veth(old.id))).toBe(false);
    const green = await byName('networks', n.green);
    expect(kernel.get(a.bridge(green.id))).toMatchObject({ mtu: 1450 });
    const namespaces = await netnsList();
    expect(namespaces).toContain(a.portNetns(api.id));
    expect(namespaces).not.toContain(a.portNetns(old.id));
    const inside = await run('ip', ['-n', a.portNetns(api.id), '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
    expect(inside.stdout).toContain(`inet ${plannedAddress} `);

    // Re-planned, the same file changes nothing anywhere.
    const again = await cli(['diff', '-f', file, '--prune', '--hosts']);
    expect({ code: again.code, stdout: again.stdout }).toEqual({ code: 0, stdout: 'No changes: the API already matches the file.\n' });
  });

  it('plans steps that refer to earlier ones, and refuses a bad step with its code, keeping nothing', async () => {
    const viewer = await gql<{ createApiToken: { secret: string } }>('mutation($input: CreateApiTokenInput!) { createApiToken(input: $input) { secret } }', {
      input: { name: uniqueName('viewer'), role: 'VIEWER' },
    });
    const before = { revision: await revision(), counts: await counts() };
    const net = uniqueName('planned');
    const steps = (cidr: string) => [
      { name: 'net', mutation: 'createNetwork', arguments: JSON.stringify({ input: { name: net } }) },
      { name: 'sub', mutation: 'createSubnet', arguments: JSON.stringify({ input: { name: uniqueName('s'), networkId: { $ref: 'net' }, cidr } }) },
      { mutation: 'createPort', arguments: JSON.stringify({ input: { name: uniqueName('p'), networkId: { $ref: 'net' }, hostId: hostA } }) },
    ];
    const ok = await gql<{ plan: { steps: { name: string | null; ids: string[] }[]; hosts: HostPlan[] } }>(PLAN, { steps: steps('10.95.0.0/24') });
    expect(ok.plan.steps.map((s) => [s.name, s.ids.length])).toEqual([['net', 1], ['sub', 1], [null, 1]]);
    expect(ok.plan.hosts.map((h) => h.hostName)).toEqual([n.a]);
    const [netId] = ok.plan.steps[0].ids;
    const created = ok.plan.hosts[0].resources.map((r) => [r.kind, r.name, r.change]);
    expect(created).toEqual(expect.arrayContaining([['Network', net, 'CREATED'], ['Port', expect.any(String), 'CREATED']]));
    expect(ok.plan.hosts[0].resources.find((r) => r.kind === 'Network')!.commands[0]).toEqual({ tool: 'ip', netns: null, line: `link add name ${new Names(P, hostA).bridge(netId)} type bridge mcast_snooping 0` });

    const refused = async (stepList: unknown[], code: string, message: RegExp): Promise<void> => {
      const result = await ctl().gql(PLAN, { steps: stepList });
      expect({ code: errorCode(result), message: result.errors?.[0]?.message }).toEqual({ code, message: expect.stringMatching(message) });
    };
    await refused(steps('not-a-cidr'), 'BAD_USER_INPUT', /^step 1 \(sub\): .*cidr/i);
    await refused([{ mutation: 'createApiToken', arguments: '{}' }], 'BAD_USER_INPUT', /not a mutation of an intent object/);
    await refused([{ mutation: 'createNetwork', arguments: '{"input": {"name": "x"}, "wait": true}' }], 'BAD_USER_INPUT', /takes no argument "wait"/);
    await refused([{ mutation: 'createNetwork', arguments: '{"input": {"name": 5}}' }], 'BAD_USER_INPUT', /^step 0: .*String/);
    await refused([{ mutation: 'createSubnet', arguments: JSON.stringify({ input: { name: 'x', networkId: { $ref: 'later' }, cidr: '10.96.0.0/24' } }) }, { name: 'later', mutation: 'createNetwork', arguments: '{"input": {"name": "y"}}' }], 'BAD_USER_INPUT', /names no earlier step/);
    await refused([{ mutation: 'deletePort', arguments: JSON.stringify({ input: { id: hostA } }) }], 'NOT_FOUND', /^step 0: /);

    // A viewer may not plan: it runs mutations.
    const asViewer = await ctl().gql(PLAN, { steps: steps('10.95.0.0/24') }, viewer.createApiToken.secret);
    expect(errorCode(asViewer)).toBe('FORBIDDEN');

    // Nothing of any of them was kept.
    const networkCount = async (name: string): Promise<number> =>
      (await gql<{ networks: { totalCount: number } }>('query($name: String) { networks(filter: { name: $name }) { totalCount } }', { name })).networks.totalCount;
    expect(await revision()).toBe(before.revision);
    expect(await counts()).toEqual(before.counts);
    expect(await networkCount(net)).toBe(0);
    // A write sent while a plan runs waits for it and is kept; the plan's are not (no transaction left open, none mixed).
    const written = uniqueName('during');
    const [during, made] = await Promise.all([
      gql<{ plan: { steps: { ids: string[] }[] } }>(PLAN, { steps: steps('10.95.0.0/24') }),
      gql<{ createNetwork: { id: string } }>('mutation($input: CreateNetworkInput!) { createNetwork(input: $input) { id } }', { input: { name: written } }),
    ]);
    expect(during.plan.steps).toHaveLength(3);
    expect(made.createNetwork.id).toBeTruthy();
    expect(await revision()).toBe(before.revision + 1);
    expect([await networkCount(written), await networkCount(net)]).toEqual([1, 0]);
  });
});
