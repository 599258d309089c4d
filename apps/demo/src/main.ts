import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Cluster, Lab, SimulatedHosts } from '@netloom/simhosts';
import { Output } from './output';
import { acrossHosts, balanced, firewalled, floatingIp, isolation, makeFirewall, makeLoadBalancer, makeRouter, type Outcome, snat } from './proofs';
import { applyStage, portLines, readWorld, TOPOLOGY_FILE, type World } from './world';

/**
 * `npm start`: the whole product on this machine. The controller (SQLite under ./data/demo) and
 * three simulated hosts, each a network namespace with a real agent, joined by an underlay
 * bridge. The topology is examples/demo.yaml, applied part by part with the built `netloom` CLI
 * (the user edits it and applies it again): two networks with the same addressing span the hosts
 * over VXLAN, and a third stands for the outside world. Each part is proved with packets: a ping across hosts, isolation between the
 * networks, a router's SNAT and floating IP, a load balancer over members on two hosts, a
 * firewall policy. The API stays up; Ctrl-C removes everything (servers, agents, namespaces, the
 * controller, demo data), also when stdout is a pipe that has closed.
 *
 * NETLOOM_PORT (8080), NETLOOM_DEMO_DIR (data/demo) and NETLOOM_DEMO_PREFIX (dmo: the prefix of
 * every namespace it makes) let a test run it beside a real demo.
 */
const PREFIX = process.env.NETLOOM_DEMO_PREFIX ?? 'dmo';
const DATA = resolve(process.env.NETLOOM_DEMO_DIR ?? 'data/demo');
const PORT = process.env.NETLOOM_PORT ?? '8080';
const HOSTS = 3;

const out = new Output();
/** The start of the cluster, once under way: a stop waits for it, then takes it down. */
let starting: Promise<Cluster> | undefined;
let lab: Lab | undefined;
let stopping = false;
let failed = 0;
/** Thrown by a step or proof asked to run once a stop has begun. */
const STOPPED = new Error('stopping');

const message = (error: unknown): string => (error instanceof Error ? error.message : String(error));
const took = (since: number): string => {
  const ms = Date.now() - since;
  return ms < 1_000 ? `${ms} ms` : `${(ms / 1_000).toFixed(1)} s`;
};

/** Runs a step that builds something; prints what it built and how long it took. */
async function step(work: () => Promise<string>): Promise<void> {
  if (stopping) throw STOPPED;
  const started = Date.now();
  const line = await work();
  out.say(`${line} (${took(started)})`);
}

/** Runs proof `n`; prints what it saw, OK or FAILED, how long it took, and the retries it needed. */
async function proof(n: number, title: string, run: () => Promise<Outcome>): Promise<void> {
  if (stopping) throw STOPPED;
  const started = Date.now();
  const outcome = await run().catch((error: unknown): Outcome => {
    out.warn(`proof ${n} (${title}): ${message(error)}`);
    return { ok: false, detail: message(error).split('\n')[0] };
  });
  if (stopping) throw STOPPED;
  if (!outcome.ok) failed++;
  out.say(`Proof ${n}, ${title}: ${outcome.detail}: ${outcome.ok ? 'OK' : 'FAILED'} (${took(started)})`);
  for (const note of lab?.notes.splice(0) ?? []) out.say(`  (${note})`);
}

async function startCluster(): Promise<Cluster> {
  const started = Date.now();
  starting = Cluster.start({ prefix: PREFIX, hosts: HOSTS, controllerArgs: ['--port', PORT], dataDir: DATA });
  const cluster = await starting;
  const { controller, sim } = cluster;
  out.say(`NetLoom controller: ${controller.url}`);
  out.say(`Admin token (shown once): ${controller.adminToken}`);
  out.say(`Simulated hosts: ${sim.hosts.map((h) => `${h.name} (VTEP ${h.vtep})`).join(', ')}: agents connected (${took(started)}).`);
  return cluster;
}

async function buildNetworks(l: Lab): Promise<World> {
  const started = Date.now();
  const dir = join(DATA, 'topology');
  mkdirSync(dir, { recursive: true });
  await applyStage(l, 0, dir);
  const world = await readWorld(l, dir);
  out.say(`\nFrom ${TOPOLOGY_FILE}, with netloom apply: networks blue and red (both 10.60.0.0/24) and outside (203.0.113.0/24) span the hosts; ports applied (${took(started)}):`);
  for (const line of portLines(world)) out.say(line);
  return world;
}

async function proveAll(w: World): Promise<void> {
  out.say('\nOverlay networks:');
  await proof(1, 'across hosts', () => acrossHosts(w));
  await proof(2, 'isolation', () => isolation(w));
  out.say('\nRouter:');
  await step(() => makeRouter(w));
  await proof(3, 'SNAT', () => snat(w));
  await proof(4, 'floating IP', () => floatingIp(w));
  out.say('\nLoad balancer:');
  await step(() => makeLoadBalancer(w));
  await proof(5, 'load balancer', () => balanced(w));
  out.say('\nFirewall:');
  await step(() => makeFirewall(w));
  await proof(6, 'firewall', () => firewalled(w));
}

function printWhereToLook(cluster: Cluster): void {
  const { url } = cluster.controller;
  const base = url.replace(/\/graphql$/, '');
  out.say(failed ? `\n${failed} proof(s) FAILED (details on stderr).` : '\nAll proofs OK.');
  out.say(`The API stays up at ${url} (admin token above):`);
  out.say(`  GraphQL IDE, in a browser (enter the token once): ${url}`);
  out.say(`  Topology page, in a browser:                     ${base}/ui`);
  out.say(`  From a shell, the CLI (README: "A walk-through with the CLI"), the token in a file:`);
  out.say(`    netloom login --url ${url} --token-file FILE, then edit ${TOPOLOGY_FILE} and netloom apply -f it`);
  out.say('Press Ctrl-C to stop and remove everything.');
}

/** Every part, even after one failed: servers and agents by pid, namespaces, the controller, temporary files. */
async function cleanUp(): Promise<string[]> {
  const problems: string[] = [];
  const cluster = await starting?.catch(() => undefined);
  problems.push(...(lab?.killChildren() ?? []));
  await cluster?.destroy().catch((error: unknown) => problems.push(message(error)));
  // Whatever a failed step above, or a start that failed half-way, left of the run.
  await SimulatedHosts.removeStale(PREFIX).catch((error: unknown) => problems.push(message(error)));
  return problems;
}

/** Cleans up once, however many signals come (npm forwards Ctrl-C to a child that got it already). */
async function stop(code: number): Promise<void> {
  if (stopping) return out.warn('Still cleaning up…');
  stopping = true;
  out.say('\nStopping: servers, agents, simulated hosts, their namespaces, the controller and the demo data…');
  const problems = await cleanUp();
  for (const problem of problems) out.warn(`cleanup: ${problem}`);
  out.say(problems.length ? 'Cleanup incomplete: see above.' : 'Done: nothing of the demo is left.');
  process.exit(problems.length ? 1 : code);
}

async function main(): Promise<void> {
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => void stop(0));
  // A demo killed hard last time leaves hosts and data behind: remove them first.
  await SimulatedHosts.removeStale(PREFIX);
  rmSync(DATA, { recursive: true, force: true });
  const cluster = await startCluster();
  lab = new Lab(cluster, PREFIX);
  await proveAll(await buildNetworks(lab));
  printWhereToLook(cluster);
}

main().catch((error: unknown) => {
  if (error === STOPPED || stopping) return;
  out.warn(`demo failed: ${message(error)}`);
  void stop(1);
});
