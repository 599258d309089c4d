/**
 * The agent's probes and metrics, end to end: a built controller and a real agent from dist/ on
 * this machine (root namespace, as in agent.e2e; the listener binds where the agent runs), with
 * `--metrics-address 127.0.0.1:0`. Ports made through GraphQL move the counters; a port that
 * spoofs its MAC shows dropped frames; the controller killed leaves the agent ready (the data
 * plane is kept) but not connected. Without the flag no port is opened. Every Linux name carries
 * a per-run prefix, removed afterwards even on failure.
 */
import { randomInt } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControllerProcess } from './support/controller';
import { createHost, uniqueName } from './support/fixtures';
import { AgentProcess, baseUrl, cleanupKernel, leftovers, ping, run, runOk, waitFor, waitForDist, withAgentOutput } from './support/agent';
import { dist } from './support/paths';
import { findSample, scrapeMetrics, valueOf, type Sample } from './support/prometheus';

jest.setTimeout(90_000);

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
const SUFFIX = Array.from({ length: 3 }, () => ALPHABET[randomInt(ALPHABET.length)]).join('');
/** This run's prefixes: the agent's, and one for agents that never join (they make nothing, but are kept apart). */
const P = `m${SUFFIX}`;
const Q = `q${SUFFIX}`;
const LISTENING = /probes and metrics on (http:\/\/\S+)/;

interface PortView {
  id: string;
  fixedIps: { ipAddress: string }[];
  status: { state: string; attributes: { key: string; value: string }[] }[];
}

let c: ControllerProcess | undefined;
let agent: AgentProcess | undefined;
/** Agents started without a join token (they never join, so they touch nothing). */
const loners: AgentProcess[] = [];
const dirs: string[] = [];
let hostId = '';
let url = '';

const tempDir = (name: string): string => {
  const dir = mkdtempSync(join(tmpdir(), `netloom-${name}-`));
  dirs.push(dir);
  return dir;
};

/** Adds the agent's last output lines to a failure. */
const withAgentLog = <T>(promise: Promise<T>): Promise<T> => withAgentOutput(agent, promise);

const scrape = (): Promise<Sample[]> => withAgentLog(scrapeMetrics(url));

async function probe(path: string): Promise<{ status: number; body: { status: string; reason?: string } }> {
  const response = await fetch(`${url}${path}`);
  return { status: response.status, body: (await response.json()) as { status: string; reason?: string } };
}

/** The TCP ports process `pid` listens on in this namespace (`ss -tlnp`). */
async function listeningPorts(pid: number): Promise<number[]> {
  const out = await runOk('ss', ['-Htlnp']);
  // State, Recv-Q, Send-Q, local ADDRESS:PORT, peer, process.
  return out
    .split('\n')
    .filter((line) => line.includes(`pid=${pid},`))
    .map((line) => {
      const local = line.trim().split(/\s+/)[3];
      return Number(local.slice(local.lastIndexOf(':') + 1));
    });
}

async function makePort(networkId: string): Promise<PortView> {
  const data = await c!.ok<{ createPort: PortView }>(
    'mutation($input: CreatePortInput!) { createPort(input: $input, wait: true) { id fixedIps { ipAddress } status { state attributes { key value } } } }',
    { input: { name: uniqueName(`${P}-port`), networkId, hostId } },
  );
  return data.createPort;
}

const netnsOf = (port: PortView): string => port.status[0].attributes.find((a) => a.key === 'netns')!.value;

async function shutdown(): Promise<void> {
  for (const a of [agent, ...loners]) await a?.kill9().catch(() => undefined);
  await c?.destroy().catch(() => undefined);
  for (const prefix of [P, Q]) {
    const removed = await cleanupKernel(prefix).catch((error: unknown) => [`cleanup failed: ${String(error)}`]);
    if (removed.length) process.stderr.write(`agent-observability e2e cleanup (${prefix}) removed: ${removed.join(' ')}\n`);
    const left = await leftovers(prefix).catch(() => []);
    if (left.length) process.stderr.write(`agent-observability e2e cleanup (${prefix}) LEFT: ${left.join(' ')}\n`);
  }
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
}

describe(`the agent's probes and metrics (prefix ${P})`, () => {
  beforeAll(async () => {
    try {
      await waitForDist();
      c = await ControllerProcess.start();
      const created = await createHost(c, uniqueName(`${P}-host`));
      hostId = created.host.id;
      agent = await AgentProcess.start({
        controllerUrl: baseUrl(c.url),
        joinToken: created.joinToken,
        prefix: P,
        stateDir: tempDir(`agent-${P}`),
        extraArgs: ['--metrics-address', '127.0.0.1:0', '--observe-ms', '300', '--counters-ms', '300'],
      });
      url = LISTENING.exec(await agent.waitForLog(LISTENING, 15_000))![1];
      await agent.waitForLog(/joined as host/, 15_000);
      await withAgentLog(waitFor(async () => valueOf(await scrapeMetrics(url), 'netloom_agent_controller_connected') === 1, 15_000, 100, 'agent connected'));
    } catch (error) {
      await shutdown();
      throw error;
    }
  });

  afterAll(async () => {
    await shutdown();
  });

  it('counts passes and kernel commands, shows ports by state and their dropped frames, and is ready while connected', async () => {
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:[1-9]\d*$/);
    const before = await scrape();
    const network = await c!.ok<{ createNetwork: { id: string } }>('mutation($input: CreateNetworkInput!) { createNetwork(input: $input, wait: true) { id } }', {
      input: { name: uniqueName(`${P}-net`) },
    });
    const networkId = network.createNetwork.id;
    await c!.ok('mutation($input: CreateSubnetInput!) { createSubnet(input: $input, wait: true) { id } }', {
      input: { name: uniqueName(`${P}-subnet`), networkId, cidr: '10.233.7.0/24' },
    });
    const a = await makePort(networkId);
    const b = await makePort(networkId);
    expect([a.status[0].state, b.status[0].state]).toEqual(['APPLIED', 'APPLIED']);

    // The agent records what it reports before it acks: the waits above have seen it.
    const after = await scrape();
    const moved = (name: string, labels: Record<string, string> = {}): number => valueOf(after, name, labels) - valueOf(before, name, labels);
    expect(moved('netloom_agent_reconcile_passes_total', { result: 'applied' })).toBeGreaterThanOrEqual(2);
    expect(moved('netloom_agent_reconcile_pass_duration_seconds_count')).toBeGreaterThanOrEqual(2);
    expect(moved('netloom_agent_kernel_commands_total', { program: 'ip' })).toBeGreaterThan(0);
    expect(moved('netloom_agent_kernel_commands_total', { program: 'nft' })).toBeGreaterThan(0);
    expect(findSample(after, 'netloom_agent_kernel_commands_failed_total', { program: 'ip' })).toBeDefined();
    expect(valueOf(after, 'netloom_agent_resources', { kind: 'Port', state: 'APPLIED' })).toBe(2);
    expect(valueOf(after, 'netloom_agent_resources', { kind: 'Port', state: 'FAILED' })).toBe(0);
    expect(findSample(after, 'netloom_agent_resources', { kind: 'Port', state: 'FAILED' })).toBeDefined();
    expect(valueOf(after, 'netloom_agent_resources', { kind: 'Network', state: 'APPLIED' })).toBe(1);
    const revision = (await c!.ok<{ revision: number }>('{ revision }')).revision;
    expect(valueOf(after, 'netloom_agent_applied_revision')).toBe(revision);
    expect(valueOf(after, 'netloom_agent_controller_connected')).toBe(1);
    // The built-in plugins run in every pass, even with nothing of theirs here.
    expect(moved('netloom_agent_plugin_reconcile_duration_seconds_count', { plugin: 'netloom.router' })).toBeGreaterThan(0);
    expect(valueOf(after, 'process_resident_memory_bytes')).toBeGreaterThan(10 * 1024 * 1024);
    for (const port of [a, b]) expect(findSample(after, 'netloom_agent_port_dropped_spoofed_packets_total', { port_id: port.id })?.value).toBe(0);
    // Port counters are read (one dump each) every --counters-ms once the controller asked for them.
    const reads = valueOf(after, 'netloom_agent_port_counters_read_duration_seconds_count');
    await withAgentLog(waitFor(async () => valueOf(await scrape(), 'netloom_agent_port_counters_read_duration_seconds_count') >= reads + 2, 10_000, 100, 'two more counter reads'));
    expect(await probe('/healthz')).toEqual({ status: 200, body: { status: 'ok' } });
    expect(await probe('/readyz')).toEqual({ status: 200, body: { status: 'ready', reason: 'connected to the controller' } });

    // Port a claims another MAC: its frames to b are dropped, and the next observe shows it.
    await runOk('ip', ['-n', netnsOf(a), 'link', 'set', 'eth0', 'address', '02:00:00:00:00:99']);
    expect(await ping(netnsOf(a), b.fixedIps[0].ipAddress)).toBe(false);
    await withAgentLog(
      waitFor(async () => valueOf(await scrape(), 'netloom_agent_port_dropped_spoofed_packets_total', { port_id: a.id }) > 0, 10_000, 200, 'drops of port a'),
    );
    expect(valueOf(await scrape(), 'netloom_agent_port_dropped_spoofed_packets_total', { port_id: b.id })).toBe(0);

    // A deleted port's series goes with it.
    await c!.ok('mutation($input: DeleteInput!) { deletePort(input: $input, wait: true) { deletedIds } }', { input: { id: a.id } });
    const gone = await scrape();
    expect(findSample(gone, 'netloom_agent_port_dropped_spoofed_packets_total', { port_id: a.id })).toBeUndefined();
    expect(findSample(gone, 'netloom_agent_port_dropped_spoofed_packets_total', { port_id: b.id })).toBeDefined();
    expect(valueOf(gone, 'netloom_agent_resources', { kind: 'Port', state: 'APPLIED' })).toBe(1);
  });

  it('with the controller killed: still ready (the data plane is kept), not connected', async () => {
    const applied = valueOf(await scrape(), 'netloom_agent_applied_revision');
    expect(applied).toBeGreaterThan(0);
    await c!.kill('SIGKILL');
    await withAgentLog(waitFor(async () => valueOf(await scrape(), 'netloom_agent_controller_connected') === 0, 15_000, 100, 'the channel closed'));
    expect(await probe('/readyz')).toEqual({ status: 200, body: { status: 'ready', reason: `data plane kept at revision ${applied} while the controller is away` } });
    expect(await probe('/healthz')).toEqual({ status: 200, body: { status: 'ok' } });
    expect(valueOf(await scrape(), 'netloom_agent_applied_revision')).toBe(applied);
  });

  it('opens no port without --metrics-address; with it, an agent that never reconciled is alive but not ready', async () => {
    // The agent above listens where it said: the check below would see a port.
    expect(await listeningPorts(agent!.pid!)).toEqual([Number(new URL(url).port)]);
    // Agents with no credential and no join token: they retry the join for ever and touch nothing.
    const start = async (extraArgs: string[]): Promise<AgentProcess> => {
      const loner = await AgentProcess.start({ controllerUrl: 'http://127.0.0.1:9', prefix: Q, stateDir: tempDir(`agent-${Q}`), extraArgs });
      loners.push(loner);
      await loner.waitForLog(/no stored credential and no join token/, 15_000);
      return loner;
    };
    const quiet = await start([]);
    expect(await listeningPorts(quiet.pid!)).toEqual([]);
    expect(quiet.lines.some((line) => LISTENING.test(line))).toBe(false);
    await quiet.kill9();

    const waiting = await start(['--metrics-address', '127.0.0.1:0']);
    const waitingUrl = LISTENING.exec(await waiting.waitForLog(LISTENING, 1_000))![1];
    expect((await fetch(`${waitingUrl}/healthz`)).status).toBe(200);
    const readyz = await fetch(`${waitingUrl}/readyz`);
    expect(readyz.status).toBe(503);
    expect(await readyz.json()).toEqual({ status: 'unavailable', reason: 'not connected to the controller, and no desired state reconciled yet' });
    expect(valueOf(await scrapeMetrics(waitingUrl), 'netloom_agent_controller_connected')).toBe(0);
    await waiting.kill9();
    // A bad address stops the agent before it does anything.
    const refused = await run(process.execPath, [dist('apps/agent/src/main.js'), '--metrics-address', '127.0.0.1', '--prefix', Q, '--state-dir', tempDir(`agent-${Q}`)]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/--metrics-address: expected HOST:PORT/);
  });
});
