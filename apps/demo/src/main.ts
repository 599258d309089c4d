import { resolve } from 'node:path';
import { execa } from 'execa';
import { Cluster, SimulatedHosts } from '@netloom/simhosts';

/**
 * `npm start`: the whole product on this machine. The controller (SQLite under ./data/demo) and
 * three simulated hosts, each a network namespace with a real agent, joined by an underlay
 * bridge. Two networks with the same addressing span the hosts over VXLAN; the demo proves it
 * with a ping across hosts, and a ping that must not cross from one network to the other. The API
 * stays up; Ctrl-C removes everything (hosts, agents, namespaces, demo data).
 */
const PREFIX = 'dmo';
const DATA = resolve(process.env.NETLOOM_DEMO_DIR ?? 'data/demo');
const PORT = process.env.NETLOOM_PORT ?? '8080';
const say = (line: string): void => void process.stdout.write(`${line}\n`);

interface DemoPort {
  name: string;
  fixedIps: { ipAddress: string }[];
  status: { attributes: { key: string; value: string }[] }[];
}
const netnsOf = (p: DemoPort): string => p.status[0].attributes.find((a) => a.key === 'netns')!.value;
const ipOf = (p: DemoPort): string => p.fixedIps[0].ipAddress;

let cluster: Cluster | undefined;
let stopping = false;

async function stop(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  say('\nStopping: agents, simulated hosts, their namespaces, the controller and the demo data…');
  await cluster?.destroy();
  say('Done: nothing of the demo is left.');
  process.exit(code);
}

async function ping(from: DemoPort, ip: string): Promise<boolean> {
  const result = await execa('ip', ['netns', 'exec', netnsOf(from), 'ping', '-c', '2', '-W', '1', ip], { reject: false });
  return result.exitCode === 0;
}

async function main(): Promise<void> {
  process.once('SIGINT', () => void stop(0));
  process.once('SIGTERM', () => void stop(0));
  // A demo killed hard last time leaves hosts behind: remove them by their prefix first.
  await SimulatedHosts.removeStale(PREFIX);
  cluster = await Cluster.start({ prefix: PREFIX, hosts: 3, controllerArgs: ['--port', PORT], dataDir: DATA });
  const { controller, hostIds, sim } = cluster;
  say(`NetLoom controller: ${controller.url}`);
  say(`Admin token (shown once): ${controller.adminToken}`);
  say(`Simulated hosts: ${sim.hosts.map((h) => `${h.name} (VTEP ${h.vtep})`).join(', ')} — agents connected.`);

  const fields = 'name fixedIps { ipAddress } status { attributes { key value } }';
  const network = async (name: string): Promise<string> => {
    const { createNetwork } = await controller.ok<{ createNetwork: { id: string } }>('mutation($n: String!) { createNetwork(input: { name: $n }) { id } }', { n: name });
    await controller.ok('mutation($n: ID!) { createSubnet(input: { name: "v4", networkId: $n, cidr: "10.60.0.0/24" }) { id } }', { n: createNetwork.id });
    return createNetwork.id;
  };
  const blue = await network('blue');
  const red = await network('red');
  const started = Date.now();
  const { createPorts } = await controller.ok<{ createPorts: DemoPort[] }>(
    `mutation($p: [CreatePortInput!]!) { createPorts(wait: true, inputs: $p) { ${fields} } }`,
    {
      p: [
        ...hostIds.map((hostId, i) => ({ name: `blue-${i}`, networkId: blue, hostId })),
        ...hostIds.slice(0, 2).map((hostId, i) => ({ name: `red-${i}`, networkId: red, hostId, fixedIps: [{ ipAddress: `10.60.0.${12 + i}` }] })),
      ],
    },
  );
  say(`Networks blue and red, both 10.60.0.0/24, spanning the hosts; all ports applied in ${Date.now() - started} ms:`);
  for (const p of createPorts) say(`  ${p.name.padEnd(7)} ${ipOf(p).padEnd(11)} namespace ${netnsOf(p)}`);

  const [blue0, , blue2, red0, red1] = createPorts;
  const across = await ping(blue0, ipOf(blue2));
  say(`\nProof 1, across hosts: blue-0 (host 0) pings blue-2 (host 2, ${ipOf(blue2)}) over VXLAN: ${across ? 'OK' : 'FAILED'}`);
  const redToRed = await ping(red0, ipOf(red1));
  const isolated = !(await ping(blue0, ipOf(red1)));
  say(`Proof 2, isolation: red-0 reaches red-1 (${ipOf(red1)}): ${redToRed ? 'yes' : 'NO'}; blue-0 reaches it: ${isolated ? 'no, as it must not' : 'YES — BROKEN'}`);
  say(`\nThe API stays up at ${controller.url} (token above); try:`);
  say(`  curl -s ${controller.url} -H 'content-type: application/json' -H 'authorization: Bearer ${controller.adminToken}' \\`);
  say(`    -d '{"query":"{ hosts { edges { node { name agent { state appliedRevision } } } } }"}'`);
  say('Press Ctrl-C to stop and remove everything.');
}

main().catch((error: unknown) => {
  say(`demo failed: ${error instanceof Error ? error.message : String(error)}`);
  void stop(1);
});
