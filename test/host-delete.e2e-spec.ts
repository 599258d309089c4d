/**
 * Deleting a host drains it: its connected agent is sent an empty desired state and removes
 * every namespace, bridge and veth it made before `deleteHost(wait: true)` answers; then it forgets
 * its credential and exits. An agent that was away during the deletion finds its credential
 * refused (with a hint) and `--cleanup` removes what it made. A real controller, real agents, and
 * packets between the ports before the deletion. Every Linux name carries a per-run prefix.
 */
import { randomInt } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControllerProcess } from './support/controller';
import { createHost, uniqueName } from './support/fixtures';
import { AgentProcess, baseUrl, cleanupKernel, leftovers, ping, run, waitFor, waitForDist } from './support/agent';
import { dist } from './support/paths';

jest.setTimeout(90_000);

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
const P = `d${Array.from({ length: 2 }, () => ALPHABET[randomInt(ALPHABET.length)]).join('')}`;

interface PortView {
  id: string;
  fixedIps: { ipAddress: string }[];
  status: { hostId: string; state: string; attributes: { key: string; value: string }[] }[];
}

let c: ControllerProcess;
const root = mkdtempSync(join(tmpdir(), 'netloom-e2e-host-delete-'));
const agents: AgentProcess[] = [];
const prefixes: string[] = [];
let subnetSeq = 0;

beforeAll(async () => {
  await waitForDist();
  c = await ControllerProcess.start();
});

afterAll(async () => {
  for (const agent of agents) await agent.stop();
  for (const prefix of prefixes) await cleanupKernel(prefix);
  await c?.destroy();
  rmSync(root, { recursive: true, force: true });
});

/** A host with a joined agent (prefix `prefix`) and two ports on one network, APPLIED and pinging each other. */
async function hostWithPorts(prefix: string): Promise<{ hostId: string; agent: AgentProcess; stateDir: string; ports: PortView[] }> {
  prefixes.push(prefix);
  const { host, joinToken } = await createHost(c, uniqueName(`${P}-host`));
  const stateDir = join(root, prefix);
  const agent = await AgentProcess.start({ controllerUrl: baseUrl(c.url), joinToken, prefix, stateDir });
  agents.push(agent);
  await waitFor(
    async () => (await c.ok<{ host: { agent: { connected: boolean } | null } }>('query($id: ID!) { host(id: $id) { agent { connected } } }', { id: host.id })).host.agent?.connected,
    20_000, 200, 'agent connected',
  );
  const { createNetwork } = await c.ok<{ createNetwork: { id: string } }>('mutation($name: String!) { createNetwork(input: { name: $name }) { id } }', {
    name: uniqueName(`${P}-net`),
  });
  await c.ok('mutation($n: ID!, $cidr: String!) { createSubnet(input: { name: "v4", networkId: $n, cidr: $cidr }) { id } }', {
    n: createNetwork.id,
    cidr: `10.233.${++subnetSeq}.0/24`,
  });
  const { createPorts } = await c.ok<{ createPorts: PortView[] }>(
    `mutation($inputs: [CreatePortInput!]!) { createPorts(wait: true, inputs: $inputs) { id fixedIps { ipAddress } status { hostId state attributes { key value } } } }`,
    { inputs: [0, 1].map((i) => ({ name: `p${i}`, networkId: createNetwork.id, hostId: host.id })) },
  );
  const netns = createPorts[0].status[0].attributes.find((a) => a.key === 'netns')!.value;
  await waitFor(() => ping(netns, createPorts[1].fixedIps[0].ipAddress), 10_000, 100, 'a ping between the host ports');
  return { hostId: host.id, agent, stateDir, ports: createPorts };
}

describe('deleting a host', () => {
  it('drains a connected host before wait answers: nothing it made is left; its agent forgets its credential and exits 0', async () => {
    const prefix = `${P}a`;
    const { hostId, agent, stateDir } = await hostWithPorts(prefix);
    expect((await leftovers(prefix)).length).toBeGreaterThan(0);

    await c.ok('mutation($id: ID!) { deleteHost(wait: true, input: { id: $id, cascade: true }) { deletedIds } }', { id: hostId });
    // When the mutation answers, the host's kernel objects are gone.
    expect(await leftovers(prefix)).toEqual([]);
    await agent.waitForLog(/the controller deleted this host/, 10_000);
    await agent.waitForLog(/\[exit\] .* code 0/, 15_000);
    expect(existsSync(join(stateDir, 'credential.json'))).toBe(false);
    expect(existsSync(join(stateDir, 'desired.json'))).toBe(false);
  });

  it('an agent away during the deletion is refused with a hint, and --cleanup removes what it made', async () => {
    const prefix = `${P}b`;
    const { hostId, agent, stateDir, ports } = await hostWithPorts(prefix);
    await agent.stop(); // the data plane stays as it was
    await c.ok('mutation($id: ID!) { deleteHost(wait: true, input: { id: $id, cascade: true }) { deletedIds } }', { id: hostId });
    const netns = ports[0].status[0].attributes.find((a) => a.key === 'netns')!.value;
    expect(await ping(netns, ports[1].fixedIps[0].ipAddress)).toBe(true); // nobody removed it

    const mark = agent.mark();
    await agent.restart();
    await agent.waitForLog(/HTTP 401 \(its host was deleted, or its join token reset: `--cleanup`/, 15_000, mark);
    await agent.stop();
    expect((await leftovers(prefix)).length).toBeGreaterThan(0);

    const cleanup = await run(process.execPath, [dist('apps/agent/src/main.js'), '--cleanup', '--prefix', prefix, '--state-dir', stateDir], 60_000);
    expect(cleanup).toMatchObject({ code: 0 });
    expect(cleanup.stderr).toContain(`removed everything this agent made for host ${hostId}`);
    expect(await leftovers(prefix)).toEqual([]);
    expect(existsSync(join(stateDir, 'credential.json'))).toBe(false);
  });
});
