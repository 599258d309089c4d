/**
 * End to end with a real controller and a real agent on this machine (root, own network
 * namespace): the agent builds namespaces, a bridge and veths; the test checks them with `ip`
 * and pings between the namespaces it caused. Every Linux name carries a per-run prefix P, and
 * everything with it is removed afterwards, even on failure.
 */
import { randomInt } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControllerProcess } from './support/controller';
import { scrapeMetrics, valueOf } from './support/prometheus';
import { createHost, uniqueName } from './support/fixtures';
import {
  AgentProcess,
  baseUrl,
  cleanupKernel,
  freePort,
  leftovers,
  links,
  netnsList,
  ownedLinkPattern,
  ping,
  run,
  sleep,
  waitFor,
  waitForDist,
  withAgentOutput,
} from './support/agent';

jest.setTimeout(60_000);

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
/** This run's prefix: 't' + 3 random [a-z0-9]. */
const P = `t${Array.from({ length: 3 }, () => ALPHABET[randomInt(ALPHABET.length)]).join('')}`;
const STATUS_FIELDS = 'state generation reason hostId attributes { key value }';

interface Status {
  state: 'APPLIED' | 'FAILED' | 'PENDING';
  generation: number;
  reason: string | null;
  hostId: string;
  attributes: { key: string; value: string }[];
}

interface PortView {
  id: string;
  name: string;
  generation: number;
  fixedIps: { ipAddress: string }[];
  status: Status[];
}

const attr = (status: Status | undefined, key: string): string => {
  const value = status?.attributes.find((a) => a.key === key)?.value;
  if (!value) throw new Error(`status has no attribute ${key}: ${JSON.stringify(status)}`);
  return value;
};

let c: ControllerProcess;
let controllerPort = 0;
let controllerUp = false;
let agent: AgentProcess | undefined;
let hostId = '';
let stateDir = '';
/** Networks a test made; afterEach deletes them (cascade, wait) so each test starts empty. */
let networks: string[] = [];
let subnetSeq = 0;

async function launchController(): Promise<void> {
  await waitForDist();
  await c.launch(['--port', String(controllerPort)]);
  controllerUp = true;
}

async function hostAgent(): Promise<{ connected: boolean; appliedRevision: number } | null> {
  const data = await c.ok<{ host: { agent: { connected: boolean; appliedRevision: number } | null } }>(
    'query($id: ID!) { host(id: $id) { agent { connected appliedRevision } } }',
    { id: hostId },
  );
  return data.host.agent;
}

/** Adds the agent's last output lines to a failure. */
const withAgentLog = <T>(promise: Promise<T>): Promise<T> => withAgentOutput(agent, promise);

const waitConnected = (timeoutMs = 15_000) =>
  withAgentLog(waitFor(async () => (await hostAgent())?.connected === true, timeoutMs, 200, 'agent connected'));

/** A network with one IPv4 subnet 10.231.N.0/24, made with wait: true. */
async function makeNetwork(): Promise<{ id: string; cidr: string }> {
  const n = ++subnetSeq;
  const net = await c.ok<{ createNetwork: { id: string } }>(
    'mutation($input: CreateNetworkInput!) { createNetwork(input: $input, wait: true) { id } }',
    { input: { name: uniqueName(`${P}-net`) } },
  );
  networks.push(net.createNetwork.id);
  const cidr = `10.231.${n}.0/24`;
  await c.ok('mutation($input: CreateSubnetInput!) { createSubnet(input: $input, wait: true) { id } }', {
    input: { name: uniqueName(`${P}-subnet`), networkId: net.createNetwork.id, cidr },
  });
  return { id: net.createNetwork.id, cidr };
}

async function makePort(networkId: string): Promise<PortView> {
  const data = await c.ok<{ createPort: PortView }>(
    `mutation($input: CreatePortInput!) { createPort(input: $input, wait: true) { id name generation fixedIps { ipAddress } status { ${STATUS_FIELDS} } } }`,
    { input: { name: uniqueName(`${P}-port`), networkId, hostId } },
  );
  return data.createPort;
}

async function getPort(id: string): Promise<PortView> {
  const data = await c.ok<{ port: PortView }>(
    `query($id: ID!) { port(id: $id) { id name generation fixedIps { ipAddress } status { ${STATUS_FIELDS} } } }`,
    { id },
  );
  return data.port;
}

/** Every port of a network, 25 a page (the query cost limit), with `fields`. */
async function networkPorts<T>(networkId: string, fields: string): Promise<T[]> {
  const out: T[] = [];
  let after: string | null = null;
  for (;;) {
    const data: { ports: { edges: { node: T }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } } } = await c.ok(
      `query($id: ID!, $after: String) { ports(filter: { networkId: $id }, first: 25, after: $after) {
        edges { node { ${fields} } } pageInfo { hasNextPage endCursor } } }`,
      { id: networkId, after },
    );
    out.push(...data.ports.edges.map((e) => e.node));
    if (!data.ports.pageInfo.hasNextPage) return out;
    after = data.ports.pageInfo.endCursor;
  }
}

/** The port's one status, on our host, APPLIED at `generation`. */
function appliedStatus(port: PortView, generation = 1): Status {
  expect(port.status).toHaveLength(1);
  const [status] = port.status;
  expect(status).toMatchObject({ state: 'APPLIED', generation, reason: null, hostId });
  return status;
}

const ipOf = (port: PortView): string => port.fixedIps[0].ipAddress;

/** Global IPv4 addresses (CIDR) on eth0 inside a namespace. */
async function eth0Addresses(ns: string): Promise<string[]> {
  const result = await run('ip', ['-n', ns, '-json', '-4', 'addr', 'show', 'dev', 'eth0']);
  if (result.code !== 0) return [];
  const entries = JSON.parse(result.stdout || '[]') as { addr_info: { local: string; prefixlen: number; scope: string }[] }[];
  return entries.flatMap((e) => e.addr_info.filter((a) => a.scope !== 'link').map((a) => `${a.local}/${a.prefixlen}`));
}

async function ownedNetns(): Promise<string[]> {
  return (await netnsList()).filter((n) => n.startsWith(`${P}-`)).sort();
}

async function ownedLinks(): Promise<Awaited<ReturnType<typeof links>>> {
  const pattern = ownedLinkPattern(P);
  return (await links()).filter((l) => pattern.test(l.ifname));
}

async function shutdown(): Promise<void> {
  if (agent) await agent.kill9().catch(() => undefined);
  // For debugging: NETLOOM_E2E_AGENT_LOG=/path keeps the agent's output.
  if (agent && process.env.NETLOOM_E2E_AGENT_LOG) writeFileSync(process.env.NETLOOM_E2E_AGENT_LOG, `${agent.lines.join('\n')}\n`);
  if (c) await c.destroy().catch(() => undefined);
  controllerUp = false;
  const removed = await cleanupKernel(P).catch((error: unknown) => [`cleanup failed: ${String(error)}`]);
  if (removed.length) process.stderr.write(`agent e2e cleanup (${P}) removed: ${removed.join(' ')}\n`);
  const left = await leftovers(P).catch(() => []);
  if (left.length) process.stderr.write(`agent e2e cleanup (${P}) LEFT: ${left.join(' ')}\n`);
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
}

describe(`agent on this machine (prefix ${P})`, () => {
  beforeAll(async () => {
    try {
      controllerPort = await freePort();
      c = new ControllerProcess(mkdtempSync(join(tmpdir(), 'netloom-agent-e2e-')));
      await launchController();
      const created = await createHost(c, uniqueName(`${P}-host`));
      hostId = created.host.id;
      stateDir = mkdtempSync(join(tmpdir(), `netloom-agent-${P}-`));
      agent = await AgentProcess.start({
        controllerUrl: baseUrl(c.url),
        joinToken: created.joinToken,
        prefix: P,
        stateDir,
        resyncMs: 2_000,
        extraArgs: ['--metrics-address', '127.0.0.1:0'],
      });
      await agent.waitForLog(/joined as host/, 15_000);
      await waitConnected();
    } catch (error) {
      await shutdown();
      throw error;
    }
  });

  afterAll(async () => {
    await shutdown();
  });

  // A test that stopped a process and failed leaves it stopped: bring both back.
  beforeEach(async () => {
    if (!controllerUp) await launchController();
    if (agent && !agent.running) await agent.restart();
  });

  afterEach(async () => {
    const ids = networks;
    networks = [];
    try {
      if (!controllerUp) await launchController();
      if (agent && !agent.running) await agent.restart();
      await waitConnected();
      for (const id of ids) {
        await c.ok('mutation($input: CascadeDeleteInput!) { deleteNetwork(input: $input, wait: true) { deletedIds } }', {
          input: { id, cascade: true },
        });
      }
    } catch (error) {
      // The kernel side is removed in afterAll whatever happens here.
      process.stderr.write(`agent e2e: afterEach could not delete networks ${ids.join(', ')}: ${String(error)}\n`);
    }
  });

  it('a. applies a network, subnet and 2 ports with wait: true; the ports ping each other', async () => {
    const network = await makeNetwork();
    const a = await makePort(network.id);
    const b = await makePort(network.id);
    const [pa, pb] = await Promise.all([getPort(a.id), getPort(b.id)]);
    const sa = appliedStatus(pa);
    const sb = appliedStatus(pb);
    expect(pa.generation).toBe(1);
    const revision = (await c.ok<{ revision: number }>('{ revision }')).revision;
    const agentState = await hostAgent();
    expect(agentState).toEqual({ connected: true, appliedRevision: expect.any(Number) });
    expect(agentState!.appliedRevision).toBeGreaterThanOrEqual(revision);

    const nsA = attr(sa, 'netns');
    const nsB = attr(sb, 'netns');
    expect(nsA).toMatch(new RegExp(`^${P}-[0-9a-f]{6}-[0-9a-f]{10}$`));
    expect(nsA).not.toBe(nsB);
    expect(attr(sa, 'interface')).toBe('eth0');
    expect(attr(sa, 'hostInterface')).toMatch(new RegExp(`^${P}v[0-9a-f]{8}$`));
    expect(attr(sa, 'bridge')).toMatch(new RegExp(`^${P}b[0-9a-f]{8}$`));
    expect(attr(sa, 'bridge')).toBe(attr(sb, 'bridge'));
    expect(await ownedNetns()).toEqual([nsA, nsB].sort());
    expect(await eth0Addresses(nsA)).toEqual([`${ipOf(pa)}/24`]);
    expect(await eth0Addresses(nsB)).toEqual([`${ipOf(pb)}/24`]);

    expect(await ping(nsA, ipOf(pb))).toBe(true);
    expect(await ping(nsB, ipOf(pa))).toBe(true);
  });

  it('b. deletePort(wait: true) removes its namespace and host veth', async () => {
    const network = await makeNetwork();
    const keep = await makePort(network.id);
    const gone = await makePort(network.id);
    const status = appliedStatus(await getPort(gone.id));
    const ns = attr(status, 'netns');
    const veth = attr(status, 'hostInterface');
    expect(await netnsList()).toContain(ns);
    expect((await links()).map((l) => l.ifname)).toContain(veth);

    await c.ok('mutation($input: DeleteInput!) { deletePort(input: $input, wait: true) { deletedIds } }', { input: { id: gone.id } });

    expect(await netnsList()).not.toContain(ns);
    expect((await links()).map((l) => l.ifname)).not.toContain(veth);
    // The other port is untouched.
    const kept = appliedStatus(await getPort(keep.id));
    expect(await netnsList()).toContain(attr(kept, 'netns'));
    expect((await links()).map((l) => l.ifname)).toContain(attr(kept, 'hostInterface'));
  });

  it('c. survives kill -9 while applying 100 ports: all APPLIED, nothing duplicated or leaked', async () => {
    const network = await makeNetwork();
    // One port first, so the bridge exists and the 100 are pure port work.
    await makePort(network.id);
    const before = new Set(await ownedNetns());
    const inputs = Array.from({ length: 100 }, (_, i) => ({ name: uniqueName(`${P}-bulk${i}`), networkId: network.id, hostId }));
    await c.ok('mutation($inputs: [CreatePortInput!]!) { createPorts(inputs: $inputs) { id } }', { inputs });

    // Kill as soon as the agent has started building (a new namespace appears), at most 300 ms in.
    const started = Date.now();
    let seen = 0;
    while (Date.now() - started < 300) {
      seen = (await ownedNetns()).filter((n) => !before.has(n)).length;
      if (seen > 0) break;
      await sleep(5);
    }
    await agent!.kill9();
    const atKill = (await ownedNetns()).filter((n) => !before.has(n)).length;
    process.stderr.write(`agent e2e: killed after ${Date.now() - started} ms; ${atKill}/100 new namespaces at the kill\n`);
    expect(agent!.running).toBe(false);

    await agent!.restart();
    const ports = await withAgentLog(waitFor(
      async () => {
        const all = await networkPorts<PortView>(network.id, `id name generation fixedIps { ipAddress } status { ${STATUS_FIELDS} }`);
        const ready = all.length === 101 && all.every((p) => p.status.length === 1 && p.status[0].state === 'APPLIED' && p.status[0].generation === 1);
        return ready ? all : false;
      },
      45_000,
      500,
      'all 101 ports APPLIED',
    ));
    for (const p of ports) appliedStatus(p);

    const expectedNs = ports.map((p) => attr(p.status[0], 'netns')).sort();
    const expectedVeths = ports.map((p) => attr(p.status[0], 'hostInterface')).sort();
    const bridge = attr(ports[0].status[0], 'bridge');
    expect(new Set(expectedNs).size).toBe(101);
    expect(new Set(expectedVeths).size).toBe(101);
    // Exactly these namespaces and links, nothing else with the prefix.
    expect(await ownedNetns()).toEqual(expectedNs);
    const owned = await ownedLinks();
    const veths = owned.filter((l) => l.linkinfo?.info_kind === 'veth');
    const bridges = owned.filter((l) => l.linkinfo?.info_kind === 'bridge');
    expect(bridges.map((l) => l.ifname)).toEqual([bridge]);
    expect(veths.map((l) => l.ifname).sort()).toEqual(expectedVeths);
    expect(owned).toHaveLength(102);
    for (const v of veths) expect(v.master).toBe(bridge);

    // Inside every namespace: lo and eth0, and eth0 has exactly the port's address.
    const problems: string[] = [];
    const queue = [...ports];
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let p = queue.shift(); p; p = queue.shift()) {
          const ns = attr(p.status[0], 'netns');
          const inside = await run('ip', ['-n', ns, '-json', 'link', 'show']);
          const names = (JSON.parse(inside.stdout || '[]') as { ifname: string }[]).map((l) => l.ifname).sort();
          if (names.join(',') !== 'eth0,lo') problems.push(`${ns}: links ${names.join(',')}`);
          const addrs = await eth0Addresses(ns);
          if (addrs.join(',') !== `${ipOf(p)}/24`) problems.push(`${ns}: eth0 has ${addrs.join(',') || 'nothing'}, want ${ipOf(p)}/24`);
        }
      }),
    );
    expect(problems).toEqual([]);
    // And the data plane works: the first bulk port reaches the last one.
    expect(await ping(attr(ports[1].status[0], 'netns'), ipOf(ports[100]))).toBe(true);
  });

  it('d. puts back a managed veth deleted by hand within 2 s; the port pings again', async () => {
    const network = await makeNetwork();
    const a = appliedStatus(await makePort(network.id));
    const b = await makePort(network.id);
    const nsA = attr(a, 'netns');
    const veth = attr(a, 'hostInterface');
    expect(await ping(nsA, ipOf(b))).toBe(true);
    const before = (await links()).find((l) => l.ifname === veth)!;

    expect((await run('ip', ['link', 'del', veth])).code).toBe(0);
    const deletedAt = Date.now();
    const back = await withAgentLog(
      waitFor(async () => (await links()).find((l) => l.ifname === veth && l.master === attr(a, 'bridge')), 2_000, 50, `${veth} back`),
    );
    const backMs = Date.now() - deletedAt;
    expect(back.ifindex).not.toBe(before.ifindex);
    await waitFor(() => ping(nsA, ipOf(b)), 5_000, 100, 'ping after repair');
    process.stderr.write(`agent e2e: veth back after ${backMs} ms, pinging after ${Date.now() - deletedAt} ms\n`);
    expect(await eth0Addresses(nsA)).toHaveLength(1);
  });

  it('e. keeps the data plane while the controller is down, reconnects when it is back', async () => {
    const network = await makeNetwork();
    const a = await makePort(network.id);
    const b = await makePort(network.id);
    const nsA = attr(appliedStatus(await getPort(a.id)), 'netns');
    expect(await ping(nsA, ipOf(b))).toBe(true);
    const url = c.url;

    const mark = agent!.mark();
    await c.stop();
    controllerUp = false;
    // The agent notices (its reconnect attempts fail) …
    await agent!.waitForLog(/channel: /, 10_000, mark);
    await sleep(1_000);
    expect(agent!.running).toBe(true);
    expect(await ping(nsA, ipOf(b))).toBe(true);

    await launchController();
    expect(c.url).toBe(url);
    await waitConnected(20_000);
    expect(agent!.running).toBe(true);
    const after = await makePort(network.id);
    const status = appliedStatus(await getPort(after.id));
    const nsNew = attr(status, 'netns');
    expect(await ping(nsNew, ipOf(a))).toBe(true);
    expect(await ping(nsA, ipOf(after))).toBe(true);
  });

  it('f. a restart with the same state dir does not re-join and changes nothing in the kernel', async () => {
    const network = await makeNetwork();
    const a = await makePort(network.id);
    const b = await makePort(network.id);
    const credential = readFileSync(join(stateDir, 'credential.json'), 'utf8');
    const snapshot = async () => ({
      netns: await ownedNetns(),
      links: (await ownedLinks()).map((l) => `${l.ifname}#${l.ifindex}@${l.master ?? ''}`).sort(),
    });
    const kernelBefore = await snapshot();

    const mark = agent!.mark();
    await agent!.stop();
    expect(agent!.running).toBe(false);
    await agent!.restart();
    const metrics = /probes and metrics on (http:\/\/\S+)/.exec(await agent!.waitForLog(/probes and metrics on/, 15_000, mark))![1];
    await agent!.waitForLog(/reconciled revision/, 15_000, mark);
    await waitConnected();
    // Two more passes after connecting: a periodic resync (2 s) at least.
    const passes = async (): Promise<number> => valueOf(await scrapeMetrics(metrics), 'netloom_agent_reconcile_passes_total', { result: 'applied' });
    const connectedAt = await passes();
    await waitFor(async () => (await passes()) >= connectedAt + 2, 10_000, 100, 'two resync passes after the restart');

    const output = agent!.linesSince(mark);
    expect(output.filter((l) => /joined as host/.test(l))).toEqual([]);
    const mutating = output.filter((l) => /reconciled revision \d+ in \d+ ms: ([1-9]\d*) mutating command/.test(l));
    expect(mutating).toEqual([]);
    expect(readFileSync(join(stateDir, 'credential.json'), 'utf8')).toBe(credential);
    expect(await snapshot()).toEqual(kernelBefore);
    expect((await hostAgent())?.connected).toBe(true);
    const nsA = attr(appliedStatus(await getPort(a.id)), 'netns');
    expect(await ping(nsA, ipOf(b))).toBe(true);
  });
});
