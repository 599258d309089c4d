/**
 * What the demo builds on top of its networks, and the packets that prove each part works: one
 * function per proof, each returning whether it held and what it saw. Servers run inside port
 * namespaces (socat, answering their own name or the address they saw the client come from) and
 * stay up until Ctrl-C; clients connect from other ports' namespaces.
 */
import { askMany, netnsExec, PEER_ADDRESS, STATUS_FIELDS, type StatusView } from '@netloom/simhosts';
import { applyStage, hostIndex, type World } from './world';

/** What a proof saw, and whether that is what it had to see. */
export interface Outcome {
  ok: boolean;
  detail: string;
}

interface Applied {
  id: string;
  status: StatusView[];
}

const ECHO_PORT = 7000;
const ROUTER_EXTERNAL = '203.0.113.10';
const FLOATING_IP = '203.0.113.20';
const VIP = '10.60.0.100';
const VIP_PORT = 80;
const MEMBER_PORT = 8080;
const MEMBERS = ['blue-0', 'blue-1'] as const;
const LB_CONNECTIONS = 6;
const WEB_PORT = 80;
const DROP_WAIT_MS = 1_500;

/**
 * Applies the file up to `stage` (`netloom apply -f --wait`); throws unless the `listField` object
 * `name` is APPLIED on a host, which it returns (by index).
 */
async function applyUpTo(w: World, stage: number, listField: string, name: string): Promise<number> {
  const [first] = await appliedUpTo(w, stage, listField, name);
  return hostIndex(w, first.hostId);
}

/** Applies the topology file up to `stage`; the statuses of `name` there, which must all be APPLIED. */
async function appliedUpTo(w: World, stage: number, listField: string, name: string): Promise<StatusView[]> {
  await applyStage(w.lab, stage, w.dir);
  const data = await w.lab.api.ok<Record<string, { edges: { node: Applied }[] }>>(
    `query($name: String) { ${listField}(filter: { name: $name }) { edges { node { id status { ${STATUS_FIELDS} } } } } }`,
    { name },
  );
  const status = data[listField].edges[0]?.node.status ?? [];
  const applied = status.filter((s) => s.state === 'APPLIED' && s.reason === null);
  if (!applied.length) throw new Error(`${name} was not applied: ${JSON.stringify(status)}`);
  return applied;
}

/** No echo reply within 2 requests (1 s each). */
const noEcho = async (ns: string, ip: string): Promise<boolean> => (await netnsExec(ns, ['ping', '-c2', '-i', '0.2', '-W1', ip])).code !== 0;

export async function acrossHosts(w: World): Promise<Outcome> {
  const { 'blue-0': from, 'blue-2': to } = w.ports;
  await w.lab.pingFrom(from.ns, to.ip, 'blue-2 from blue-0');
  return { ok: true, detail: `blue-0 (host 0) pings blue-2 (host 2, ${to.ip}) over VXLAN` };
}

export async function isolation(w: World): Promise<Outcome> {
  const { 'red-0': red0, 'red-1': red1, 'blue-0': blue0 } = w.ports;
  await w.lab.pingFrom(red0.ns, red1.ip, 'red-1 from red-0');
  const apart = await noEcho(blue0.ns, red1.ip);
  return { ok: apart, detail: `red-0 reaches red-1 (${red1.ip}); blue-0, on blue with the same addresses, ${apart ? 'does not' : 'DOES'}` };
}

/** A router on host 0: blue's gateway, SNAT to its external address on `outside`, a floating IP for blue-1. */
export async function makeRouter(w: World): Promise<string> {
  const host = await applyUpTo(w, 1, 'routers', 'router');
  return `Router on host ${host}: blue's gateway, SNAT to ${ROUTER_EXTERNAL} on outside, floating IP ${FLOATING_IP} for blue-1`;
}

export async function snat(w: World): Promise<Outcome> {
  const { 'blue-0': inside, remote } = w.ports;
  await w.lab.answerServer(remote.ns, ECHO_PORT, PEER_ADDRESS);
  const seen = await w.lab.answerFrom(inside.ns, remote.ip, ECHO_PORT, 'remote, from blue-0');
  return {
    ok: seen === ROUTER_EXTERNAL,
    detail: `blue-0 (${inside.ip}) connects to remote (${remote.ip}:${ECHO_PORT}), which sees it come from ${seen} (the router's external address is ${ROUTER_EXTERNAL})`,
  };
}

export async function floatingIp(w: World): Promise<Outcome> {
  const { 'blue-1': inside, remote } = w.ports;
  await w.lab.answerServer(inside.ns, ECHO_PORT, PEER_ADDRESS);
  const inbound = await w.lab.answerFrom(remote.ns, FLOATING_IP, ECHO_PORT, 'blue-1 at its floating IP, from remote');
  const outbound = await w.lab.answerFrom(inside.ns, remote.ip, ECHO_PORT, 'remote, from blue-1');
  return {
    ok: inbound === remote.ip && outbound === FLOATING_IP,
    detail: `remote connects to ${FLOATING_IP} and blue-1 (${inside.ip}) answers, seeing ${inbound}; blue-1 goes out as ${outbound}`,
  };
}

/** Servers on the members answering their own name, then a round-robin load balancer over them. */
export async function makeLoadBalancer(w: World): Promise<string> {
  for (const name of MEMBERS) await w.lab.answerServer(w.ports[name].ns, MEMBER_PORT, name);
  const statuses = await appliedUpTo(w, 2, 'loadBalancers', 'web');
  const distributed = statuses.every((s) => s.attributes.some((a) => a.key === 'mode' && a.value === 'DISTRIBUTED'));
  const where = distributed ? `translated on each client's host (DISTRIBUTED, on hosts ${statuses.map((s) => hostIndex(w, s.hostId)).join(', ')})` : `on host ${hostIndex(w, statuses[0].hostId)}`;
  return `Load balancer ${where}: VIP ${VIP}:${VIP_PORT} on blue, round robin over blue-0 (host 0) and blue-1 (host 1), port ${MEMBER_PORT}`;
}

export async function balanced(w: World): Promise<Outcome> {
  const client = w.ports['blue-2'];
  await w.lab.answerFrom(client.ns, VIP, VIP_PORT, 'the VIP, from blue-2');
  const answers = await askMany(client.ns, VIP, VIP_PORT, LB_CONNECTIONS);
  const fromMembers = answers.every((a) => (MEMBERS as readonly string[]).includes(a));
  const both = MEMBERS.every((m) => answers.includes(m));
  return { ok: fromMembers && both, detail: `${LB_CONNECTIONS} connections from blue-2 (host 2) to ${VIP}:${VIP_PORT}, answered by ${answers.join(', ')}` };
}

/**
 * A server on blue-2 answering on TCP 80, reached by blue-0 and blue-1 first; then a policy on
 * blue-2 that lets TCP 80 in from blue-0 alone and drops everything else coming in.
 */
export async function makeFirewall(w: World): Promise<string> {
  const { 'blue-0': allowed, 'blue-1': other, 'blue-2': server } = w.ports;
  await w.lab.answerServer(server.ns, WEB_PORT, 'blue-2');
  await w.lab.answerFrom(allowed.ns, server.ip, WEB_PORT, 'blue-2:80 from blue-0, before the policy');
  await w.lab.answerFrom(other.ns, server.ip, WEB_PORT, 'blue-2:80 from blue-1, before the policy');
  await applyUpTo(w, 3, 'firewallPolicies', 'web-in');
  return `Firewall policy on blue-2: TCP ${WEB_PORT} in from blue-0 (${allowed.ip}) only, the rest dropped (before it, blue-0 and blue-1 both reached blue-2:${WEB_PORT})`;
}

export async function firewalled(w: World): Promise<Outcome> {
  const { 'blue-0': allowed, 'blue-1': other, 'blue-2': server } = w.ports;
  const yes = await w.lab.answerFrom(allowed.ns, server.ip, WEB_PORT, 'blue-2:80 from blue-0, allowed by the policy');
  const [no] = await askMany(other.ns, server.ip, WEB_PORT, 1, { timeoutMs: DROP_WAIT_MS });
  return {
    ok: yes === 'blue-2' && no === '!timeout',
    detail: `blue-0 → blue-2:${WEB_PORT} ${yes === 'blue-2' ? 'answered' : `got ${yes}`}; blue-1 → blue-2:${WEB_PORT} ${no === '!timeout' ? `dropped (no answer in ${DROP_WAIT_MS / 1000} s)` : `got ${no}`}`,
  };
}
