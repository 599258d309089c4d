/**
 * The soak (prints figures; exits 1 when the result is not clean). Run as root:
 * `npm run bench:soak -- --seconds 600 [--seed N] [--kill-every 20]`.
 *
 * 3 simulated hosts; random creates, updates and deletes of networks, ports, routers, load
 * balancers and firewall policies through the public API, while agents and the controller are
 * killed -9 and started again at random. At the end: every acknowledged write is present (and
 * nothing that was acknowledged as deleted), every host applied the last revision with every
 * status APPLIED, ports reach each other, and once everything is deleted no kernel object of the
 * run is left in any host; no process died that the soak did not kill.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { execa } from 'execa';
import { Cluster, ControllerProcess, GqlResult } from '@netloom/simhosts';

const { values: flags } = parseArgs({
  options: {
    seconds: { type: 'string', default: '600' },
    seed: { type: 'string', default: String(Date.now() % 100_000) },
    'kill-every': { type: 'string', default: '20' },
  },
});
const DURATION_MS = Number(flags.seconds) * 1000;
const KILL_EVERY_MS = Number(flags['kill-every']) * 1000;
const HOSTS = 3;
const prefix = `s${Math.random().toString(36).slice(2, 5)}`;
const say = (line: string): void => void process.stdout.write(`${line}\n`);

// A small deterministic generator (mulberry32), so a seed replays the same choices.
let state = Number(flags.seed) >>> 0;
function random(): number {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)];
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

type Kind = 'Network' | 'Port' | 'Router' | 'LoadBalancer' | 'FirewallPolicy';
interface Known {
  kind: Kind;
  id: string;
  name: string;
  generation: number;
  /** An update of it whose answer was lost: its generation may be one more. */
  unsure?: boolean;
  networkId?: string;
  subnetId?: string;
}

/** What the soak was told: present, deleted, or unknown because the controller died mid-request. */
class Ledger {
  readonly live = new Map<string, Known>();
  readonly deleted = new Set<string>();
  /** Creates whose answer was lost, by kind/name. */
  readonly unsureCreates = new Set<string>();
  /** Deletes whose answer was lost, by id. */
  readonly unsureDeletes = new Set<string>();
  of(kind: Kind): Known[] {
    return [...this.live.values()].filter((k) => k.kind === kind);
  }
  gone(ids: string[]): void {
    for (const id of ids) {
      this.live.delete(id);
      this.deleted.add(id);
    }
  }
}

const counts = { ok: 0, refused: 0, unsure: 0, internal: 0, agentKills: 0, controllerKills: 0 };
const refusals = new Map<string, number>();
/** The first message of each kind of refusal, to read what was refused. */
const refusalMessages = new Map<string, string>();
/** False while the controller is being killed and started again: no request is sent then. */
let controllerReady = true;
const internalErrors: string[] = [];

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root: the soak creates namespaces');
  say(`NetLoom soak: ${HOSTS} simulated hosts, ${DURATION_MS / 1000} s, a kill every ~${KILL_EVERY_MS / 1000} s, seed ${flags.seed}, prefix ${prefix}`);
  const cluster = await Cluster.start({ prefix, hosts: HOSTS, resyncMs: 5_000 });
  const ledger = new Ledger();
  let clean = true;
  try {
    const c = cluster.controller;
    for (let i = 0; i < 2; i++) await createNetwork(c, ledger);
    const end = Date.now() + DURATION_MS;
    let lastKill = Date.now();
    let crashes = 0;
    /** Agents the chaos loop is killing and starting again: not crashes. */
    const restarting = new Set<number>();
    const chaos = (async () => {
      while (Date.now() < end - KILL_EVERY_MS / 2) {
        await sleep(KILL_EVERY_MS * (0.5 + random()));
        if (Date.now() >= end) break;
        if (random() < 0.3) {
          controllerReady = false;
          await cluster.crashController(200 + Math.floor(random() * 1500));
          controllerReady = true;
          counts.controllerKills++;
        } else {
          const i = Math.floor(random() * HOSTS);
          restarting.add(i);
          await cluster.agents[i].kill9();
          await sleep(200 + Math.floor(random() * 2000));
          await cluster.restartAgent(i);
          restarting.delete(i);
          counts.agentKills++;
        }
        lastKill = Date.now();
      }
    })();
    while (Date.now() < end) {
      if (!controllerReady) {
        await sleep(50); // the chaos loop is starting it again
        continue;
      }
      await step(c, cluster.hostIds, ledger);
      crashes = unexpectedExits(cluster, restarting);
      if (crashes) break;
    }
    await chaos;
    const afterLastKill = Date.now();

    say(`operations: ${counts.ok} acknowledged, ${counts.refused} refused with a clear code, ${counts.unsure} unanswered (controller killed), ${counts.internal} internal errors`);
    for (const [what, n] of refusals) say(`   refused: ${what} ×${n} (${refusalMessages.get(what)})`);
    say(`kills survived: ${counts.agentKills} agents, ${counts.controllerKills} controller`);

    const converged = await converge(c, cluster.hostIds, 120_000);
    const convergedMs = Date.now() - afterLastKill;
    const sinceKill = Date.now() - lastKill;
    say(`convergence: ${converged.ok ? `desired = realized on every host ${convergedMs} ms after the run ended (${sinceKill} ms after the last kill)` : `NOT reached: ${converged.why}`}`);

    const lost = await acknowledgedWritesMissing(c, ledger);
    say(`acknowledged writes missing or resurrected: ${lost.length}${lost.length ? ` (${lost.slice(0, 5).join('; ')})` : ''}`);

    const unreachable = converged.ok ? await pingWithinNetworks(c) : ['not converged'];
    say(`ports not reaching a neighbour: ${unreachable.length}${unreachable.length ? ` (${unreachable.slice(0, 5).join('; ')})` : ''}`);

    await deleteEverything(c);
    const leaks = await leakedKernelObjects(cluster);
    say(`leaked kernel objects after deleting everything: ${leaks.length}${leaks.length ? ` (${leaks.slice(0, 8).join(', ')})` : ''}`);
    crashes += unexpectedExits(cluster, restarting);
    say(`crashes (exits the soak did not cause): ${crashes}`);
    if (internalErrors.length) say(`internal errors: ${internalErrors.slice(0, 3).join(' | ')}`);

    clean = converged.ok && !lost.length && !unreachable.length && !leaks.length && !crashes && !counts.internal;
    say(clean ? 'result: CLEAN' : 'result: NOT CLEAN');
    if (!clean) say(`logs: ${keepLogs(cluster)}`);
  } finally {
    await cluster.destroy();
  }
  if (!clean) process.exitCode = 1;
}

/**
 * A run that is not clean keeps what the processes said (the controller across its restarts, each
 * agent's current run) in test-output/soak-<prefix>/, to find out why; returns the folder.
 */
function keepLogs(cluster: Cluster): string {
  const dir = resolve('test-output', `soak-${prefix}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'controller.log'), cluster.controller.output.join(''));
  for (const agent of cluster.agents) writeFileSync(join(dir, `agent-${agent.host.name}.log`), `${agent.lines.join('\n')}\n`);
  return dir;
}

/** Process exits nobody asked for: an agent of the current set, or the controller, not running. */
function unexpectedExits(cluster: Cluster, restarting: Set<number>): number {
  let n = 0;
  for (const [i, agent] of cluster.agents.entries()) {
    if (!agent.running && !restarting.has(i)) {
      n++;
      say(`agent on ${agent.host.name} exited by itself:\n${agent.lines.slice(-15).join('\n')}`);
    }
  }
  return n;
}

/** One random operation; its outcome goes into the ledger and the counts. */
async function step(c: ControllerProcess, hostIds: string[], ledger: Ledger): Promise<void> {
  const networks = ledger.of('Network');
  const ports = ledger.of('Port');
  const options: [number, () => Promise<void>][] = [
    [networks.length < 6 ? 5 : 0, () => createNetwork(c, ledger)],
    [networks.length > 2 ? 2 : 0, () => deleteObject(c, ledger, pick(networks), true)],
    [ports.length < 40 ? 30 : 5, () => createPort(c, ledger, pick(networks), pick(hostIds))],
    [ports.length ? 12 : 0, () => deleteObject(c, ledger, pick(ports))],
    [ports.length ? 10 : 0, () => updateLabels(c, pick(ports))],
    [ledger.of('Router').length < 3 ? 4 : 0, () => createRouter(c, ledger, pick(networks))],
    [ledger.of('Router').length ? 3 : 0, () => deleteObject(c, ledger, pick(ledger.of('Router')))],
    [ledger.of('LoadBalancer').length < 3 && ports.length ? 4 : 0, () => createLoadBalancer(c, ledger, pick(ports))],
    [ledger.of('LoadBalancer').length ? 3 : 0, () => deleteObject(c, ledger, pick(ledger.of('LoadBalancer')))],
    [ledger.of('FirewallPolicy').length < 4 ? 4 : 0, () => createPolicy(c, ledger, pick(networks))],
    [ledger.of('FirewallPolicy').length ? 4 : 0, () => updatePolicy(c, pick(ledger.of('FirewallPolicy')))],
    [ledger.of('FirewallPolicy').length ? 3 : 0, () => deleteObject(c, ledger, pick(ledger.of('FirewallPolicy')))],
  ];
  const total = options.reduce((sum, [w]) => sum + w, 0);
  let roll = random() * total;
  for (const [weight, run] of options) {
    roll -= weight;
    if (roll < 0) return run();
  }
}

let sequence = 0;
const nextName = (base: string): string => `${base}-${++sequence}`;

/**
 * Sends a mutation. Resolves with its data when acknowledged; null when refused with a code (a
 * clear refusal: nothing written) or unanswered (the controller died: `onUnsure` records it).
 */
async function mutate<T>(c: ControllerProcess, what: string, query: string, variables: Record<string, unknown>, onUnsure: () => void): Promise<T | null> {
  let result: GqlResult<T>;
  try {
    result = await c.gql<T>(query, variables);
  } catch {
    counts.unsure++;
    onUnsure();
    return null;
  }
  const error = result.errors?.[0];
  if (!error) {
    counts.ok++;
    return result.data ?? null;
  }
  const code = error.extensions?.code ?? 'NONE';
  if (code === 'INTERNAL_SERVER_ERROR' || code === 'NONE') {
    counts.internal++;
    internalErrors.push(`${what}: ${error.message}`);
    return null;
  }
  counts.refused++;
  refusals.set(`${what} ${code}`, (refusals.get(`${what} ${code}`) ?? 0) + 1);
  if (!refusalMessages.has(`${what} ${code}`)) refusalMessages.set(`${what} ${code}`, error.message);
  return null;
}

let subnetSequence = 0;
async function createNetwork(c: ControllerProcess, ledger: Ledger): Promise<void> {
  const name = nextName('net');
  const cidr = `10.${100 + (subnetSequence >> 8)}.${subnetSequence++ % 256}.0/24`;
  const data = await mutate<{ createNetwork: { id: string; generation: number } }>(
    c,
    'createNetwork',
    'mutation($name: String!) { createNetwork(input: { name: $name }) { id generation } }',
    { name },
    () => ledger.unsureCreates.add(`Network/${name}`),
  );
  if (!data) return;
  const network: Known = { kind: 'Network', id: data.createNetwork.id, name, generation: data.createNetwork.generation };
  ledger.live.set(network.id, network);
  const subnet = await mutate<{ createSubnet: { id: string } }>(
    c,
    'createSubnet',
    'mutation($n: ID!, $cidr: String!) { createSubnet(input: { name: "v4", networkId: $n, cidr: $cidr }) { id } }',
    { n: network.id, cidr },
    () => undefined, // a subnet is checked through its network's ports
  );
  if (subnet) network.subnetId = subnet.createSubnet.id;
}

async function createPort(c: ControllerProcess, ledger: Ledger, network: Known, hostId: string): Promise<void> {
  if (!network.subnetId) return;
  const name = nextName('port');
  const data = await mutate<{ createPort: { id: string; generation: number } }>(
    c,
    'createPort',
    'mutation($input: CreatePortInput!) { createPort(input: $input) { id generation } }',
    { input: { name, networkId: network.id, hostId, labels: [{ key: 'app', value: pick(['web', 'db']) }] } },
    () => ledger.unsureCreates.add(`Port/${name}`),
  );
  if (data) ledger.live.set(data.createPort.id, { kind: 'Port', id: data.createPort.id, name, generation: data.createPort.generation, networkId: network.id });
}

async function updateLabels(c: ControllerProcess, port: Known): Promise<void> {
  const data = await mutate<{ updatePort: { generation: number } }>(
    c,
    'updatePort',
    'mutation($id: ID!, $v: String!) { updatePort(input: { id: $id, labels: [{ key: "app", value: $v }] }) { generation } }',
    { id: port.id, v: pick(['web', 'db', 'cache']) },
    () => (port.unsure = true),
  );
  if (data) port.generation = data.updatePort.generation;
}

async function createRouter(c: ControllerProcess, ledger: Ledger, network: Known): Promise<void> {
  if (!network.subnetId) return;
  const name = nextName('router');
  const data = await mutate<{ createRouter: { id: string; generation: number } }>(
    c,
    'createRouter',
    'mutation($name: String!, $s: ID!) { createRouter(input: { name: $name, interfaces: [{ subnetId: $s }] }) { id generation } }',
    { name, s: network.subnetId },
    () => ledger.unsureCreates.add(`Router/${name}`),
  );
  if (data) ledger.live.set(data.createRouter.id, { kind: 'Router', id: data.createRouter.id, name, generation: data.createRouter.generation });
}

async function createLoadBalancer(c: ControllerProcess, ledger: Ledger, member: Known): Promise<void> {
  const network = member.networkId ? ledger.live.get(member.networkId) : undefined;
  if (!network?.subnetId) return;
  const name = nextName('lb');
  const data = await mutate<{ createLoadBalancer: { id: string; generation: number } }>(
    c,
    'createLoadBalancer',
    `mutation($name: String!, $s: ID!, $m: ID!) { createLoadBalancer(input: { name: $name, subnetId: $s,
      listeners: [{ protocol: TCP, port: 80, pool: { algorithm: ROUND_ROBIN, members: [{ portId: $m, port: 8080 }] } }] }) { id generation } }`,
    { name, s: network.subnetId, m: member.id },
    () => ledger.unsureCreates.add(`LoadBalancer/${name}`),
  );
  if (data) ledger.live.set(data.createLoadBalancer.id, { kind: 'LoadBalancer', id: data.createLoadBalancer.id, name, generation: data.createLoadBalancer.generation });
}

const policyRules = (port: number): unknown[] => [
  { priority: 10, direction: 'INGRESS', protocol: 'ICMP', action: 'ALLOW' },
  { priority: 20, direction: 'INGRESS', protocol: 'TCP', ports: [{ from: port, to: port }], action: 'ALLOW' },
];

async function createPolicy(c: ControllerProcess, ledger: Ledger, network: Known): Promise<void> {
  const name = nextName('policy');
  const data = await mutate<{ createFirewallPolicy: { id: string; generation: number } }>(
    c,
    'createFirewallPolicy',
    'mutation($name: String!, $n: ID!, $rules: [FirewallPolicyRuleInput!]) { createFirewallPolicy(input: { name: $name, selector: { networkIds: [$n] }, rules: $rules }) { id generation } }',
    { name, n: network.id, rules: policyRules(22) },
    () => ledger.unsureCreates.add(`FirewallPolicy/${name}`),
  );
  if (data) ledger.live.set(data.createFirewallPolicy.id, { kind: 'FirewallPolicy', id: data.createFirewallPolicy.id, name, generation: data.createFirewallPolicy.generation });
}

async function updatePolicy(c: ControllerProcess, policy: Known): Promise<void> {
  const data = await mutate<{ updateFirewallPolicy: { generation: number } }>(
    c,
    'updateFirewallPolicy',
    'mutation($id: ID!, $rules: [FirewallPolicyRuleInput!]) { updateFirewallPolicy(input: { id: $id, rules: $rules }) { generation } }',
    { id: policy.id, rules: policyRules(1000 + Math.floor(random() * 1000)) },
    () => (policy.unsure = true),
  );
  if (data) policy.generation = data.updateFirewallPolicy.generation;
}

async function deleteObject(c: ControllerProcess, ledger: Ledger, known: Known, cascade = false): Promise<void> {
  const input = cascade ? '{ id: $id, cascade: true }' : '{ id: $id }';
  const data = await mutate<Record<string, { deletedIds: string[] }>>(
    c,
    `delete${known.kind}`,
    `mutation($id: ID!) { delete${known.kind}(input: ${input}) { deletedIds } }`,
    { id: known.id },
    () => ledger.unsureDeletes.add(known.id),
  );
  if (data) ledger.gone(data[`delete${known.kind}`].deletedIds);
}

interface Listed {
  id: string;
  name: string;
  generation: number;
  hostId?: string;
  networkId?: string;
  fixedIps?: { ipAddress: string }[];
  status: { hostId: string; state: string; generation: number; reason: string | null; attributes: { key: string; value: string }[] }[];
}
const CONNECTIONS: [Kind, string, string][] = [
  ['Network', 'networks', 'id name generation status { hostId state generation reason attributes { key value } }'],
  ['Port', 'ports', 'id name generation hostId networkId fixedIps { ipAddress } status { hostId state generation reason attributes { key value } }'],
  ['Router', 'routers', 'id name generation status { hostId state generation reason attributes { key value } }'],
  ['LoadBalancer', 'loadBalancers', 'id name generation status { hostId state generation reason attributes { key value } }'],
  ['FirewallPolicy', 'firewallPolicies', 'id name generation status { hostId state generation reason attributes { key value } }'],
];

async function listAll(c: ControllerProcess): Promise<Map<Kind, Listed[]>> {
  const out = new Map<Kind, Listed[]>();
  for (const [kind, field, fields] of CONNECTIONS) {
    const items: Listed[] = [];
    for (let after: string | null = null; ; ) {
      const data: Record<string, { edges: { node: Listed }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } }> = await c.ok(
        `query($after: String) { ${field}(first: 50, after: $after) { edges { node { ${fields} } } pageInfo { hasNextPage endCursor } } }`,
        { after },
      );
      items.push(...data[field].edges.map((e) => e.node));
      if (!data[field].pageInfo.hasNextPage) break;
      after = data[field].pageInfo.endCursor;
    }
    out.set(kind, items);
  }
  return out;
}

/** Waits until every host applied the last revision and every status is APPLIED at the current generation. */
async function converge(c: ControllerProcess, hostIds: string[], timeoutMs: number): Promise<{ ok: boolean; why: string }> {
  const deadline = Date.now() + timeoutMs;
  let why = '';
  while (Date.now() < deadline) {
    try {
      const { revision, hosts } = await c.ok<{ revision: number; hosts: { edges: { node: { id: string; agent: { connected: boolean; appliedRevision: number } | null } }[] } }>(
        '{ revision hosts(first: 100) { edges { node { id agent { connected appliedRevision } } } } }',
      );
      const behind = hosts.edges.filter((e) => hostIds.includes(e.node.id) && !(e.node.agent?.connected && e.node.agent.appliedRevision >= revision));
      why = behind.length ? `${behind.length} host(s) not at revision ${revision}` : '';
      if (!why) {
        const listed = await listAll(c);
        const problems: string[] = [];
        for (const [kind, items] of listed) {
          for (const item of items) {
            for (const s of item.status) {
              if (s.state !== 'APPLIED' || s.generation !== item.generation) problems.push(`${kind} ${item.name} on ${s.hostId}: ${s.state} g${s.generation}/${item.generation} ${s.reason ?? ''}`);
            }
            if (kind === 'Port' && !item.status.some((s) => s.hostId === item.hostId && s.state === 'APPLIED')) problems.push(`Port ${item.name} (${item.id}): no APPLIED status on its host ${item.hostId}`);
          }
        }
        why = problems.slice(0, 3).join('; ');
        if (!problems.length) return { ok: true, why: '' };
      }
    } catch (error) {
      why = (error as Error).message;
    }
    await sleep(500);
  }
  return { ok: false, why };
}

/** Acknowledged objects missing (or at an older generation), acknowledged deletes present, unknown objects present. */
async function acknowledgedWritesMissing(c: ControllerProcess, ledger: Ledger): Promise<string[]> {
  const listed = await listAll(c);
  const problems: string[] = [];
  const present = new Map<string, Listed & { kind: Kind }>();
  for (const [kind, items] of listed) for (const item of items) present.set(item.id, { ...item, kind });
  for (const known of ledger.live.values()) {
    const found = present.get(known.id);
    if (!found) {
      // A delete whose answer was lost may have happened (a network's, with its ports).
      const mayBeGone = ledger.unsureDeletes.has(known.id) || (known.networkId !== undefined && ledger.unsureDeletes.has(known.networkId));
      if (!mayBeGone) problems.push(`${known.kind} ${known.name} acknowledged, missing`);
      continue;
    }
    const fine = found.generation === known.generation || (known.unsure && found.generation === known.generation + 1);
    if (!fine) problems.push(`${known.kind} ${known.name} at generation ${found.generation}, acknowledged ${known.generation}`);
  }
  for (const [id, item] of present) {
    if (ledger.live.has(id)) continue;
    if (ledger.deleted.has(id)) problems.push(`${item.kind} ${item.name} deleted (acknowledged), present`);
    else if (!ledger.unsureCreates.has(`${item.kind}/${item.name}`)) problems.push(`${item.kind} ${item.name} never acknowledged, present`);
  }
  return problems;
}

/** From one port of each network, a ping to every other port of it (firewall policies allow ICMP). */
async function pingWithinNetworks(c: ControllerProcess): Promise<string[]> {
  const ports = (await listAll(c)).get('Port') ?? [];
  const byNetwork = new Map<string, Listed[]>();
  for (const port of ports) if (port.fixedIps?.length) byNetwork.set(port.networkId!, [...(byNetwork.get(port.networkId!) ?? []), port]);
  const failures: string[] = [];
  const netnsOf = (p: Listed): string | undefined => p.status.find((s) => s.hostId === p.hostId)?.attributes.find((a) => a.key === 'netns')?.value;
  for (const members of byNetwork.values()) {
    const [from, ...others] = members;
    const ns = netnsOf(from);
    if (!ns) continue;
    for (const to of others) {
      const ip = to.fixedIps![0].ipAddress;
      let ok = false;
      for (let attempt = 0; attempt < 3 && !ok; attempt++) {
        ok = (await execa('ip', ['netns', 'exec', ns, 'ping', '-c1', '-W1', ip], { reject: false })).exitCode === 0;
      }
      if (!ok) failures.push(`${from.name} → ${to.name} (${ip})`);
    }
  }
  return failures;
}

async function deleteEverything(c: ControllerProcess): Promise<void> {
  const listed = await listAll(c);
  for (const kind of ['LoadBalancer', 'Router', 'FirewallPolicy'] as Kind[]) {
    for (const item of listed.get(kind) ?? []) await c.ok(`mutation($id: ID!) { delete${kind}(wait: true, input: { id: $id }) { deletedIds } }`, { id: item.id });
  }
  for (const item of listed.get('Network') ?? []) {
    await c.ok('mutation($id: ID!) { deleteNetwork(wait: true, input: { id: $id, cascade: true }) { deletedIds } }', { id: item.id });
  }
}

/** Namespaces and links of the run's agents still in the kernel (the simulation's own excepted). */
async function leakedKernelObjects(cluster: Cluster): Promise<string[]> {
  const own = new Set([...cluster.sim.hosts.map((h) => h.name), `${prefix}-ul`]);
  const leaks: string[] = [];
  // Namespace deletion is asynchronous in the kernel: give it a moment to settle.
  for (let attempt = 0; attempt < 20; attempt++) {
    leaks.length = 0;
    const namespaces = (await execa('ip', ['netns', 'list'])).stdout.split('\n').map((l) => l.split(' ')[0]).filter(Boolean);
    for (const ns of namespaces) if (ns.startsWith(`${prefix}-`) && !own.has(ns)) leaks.push(`netns ${ns}`);
    for (const host of cluster.sim.hosts) {
      const links = JSON.parse((await execa('ip', ['-n', host.name, '-json', 'link', 'show'])).stdout || '[]') as { ifname: string }[];
      for (const link of links) if (!['lo', 'ul0'].includes(link.ifname)) leaks.push(`${host.name}/${link.ifname}`);
      // nft tables the agent keeps in the host namespace (port security) carry its prefix.
      const tables = (await execa('ip', ['netns', 'exec', host.name, 'nft', 'list', 'tables'])).stdout.split('\n');
      for (const table of tables) if (table.includes(` ${prefix}`)) leaks.push(`${host.name}/${table.trim()}`);
    }
    if (!leaks.length) break;
    await sleep(250);
  }
  return leaks;
}

main().catch((error: unknown) => {
  process.stderr.write(`soak failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
