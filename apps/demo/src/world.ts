import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { attr, type Lab, type PortView, STATUS_FIELDS, type StatusView } from '@netloom/simhosts';
import { parse, stringify } from 'yaml';

/** The demo's topology, a file the user may edit and apply again with `netloom apply -f`. */
export const TOPOLOGY_FILE = 'examples/demo.yaml';
const ROOT = resolve(__dirname, '../../../..');
const CLI = join(ROOT, 'dist/apps/cli/src/main.js');

/** The ports the proofs use, by name. */
export type PortName = 'blue-0' | 'blue-1' | 'blue-2' | 'red-0' | 'red-1' | 'remote';
const PORT_NAMES: PortName[] = ['blue-0', 'blue-1', 'blue-2', 'red-0', 'red-1', 'remote'];

/** The parts of the file the demo applies one after the other, each with the ones before. */
export const STAGES = [['owner', 'networks', 'subnets', 'ports'], ['routers'], ['load-balancers'], ['firewall-policies']] as const;

/** What the proofs work on: the lab (controller, hosts, agents) and the ports, as the agents built them. */
export interface World {
  readonly lab: Lab;
  /** Where the files of each stage are written. */
  readonly dir: string;
  readonly ports: Record<PortName, PortView>;
}

/** The index of the host with controller id `hostId`. */
export const hostIndex = (w: World, hostId: string): number => w.lab.cluster.hostIds.indexOf(hostId);

/** The file as this run applies it: the hosts dmo-h0… named with the run's prefix. */
function topology(lab: Lab): Record<string, unknown> {
  const text = readFileSync(join(ROOT, TOPOLOGY_FILE), 'utf8').replace(/\bdmo-h(\d+)\b/g, `${lab.prefix}-h$1`);
  return parse(text) as Record<string, unknown>;
}

/**
 * Applies the file's first `stage + 1` parts with the built `netloom` CLI (`apply -f --wait`), as a
 * user would: a file in `dir`, the controller's URL and token in the environment, no contexts file.
 */
export async function applyStage(lab: Lab, stage: number, dir: string): Promise<void> {
  const whole = topology(lab);
  const keys: string[] = STAGES.slice(0, stage + 1).flat();
  const file = join(dir, `demo-stage-${stage}.yaml`);
  writeFileSync(file, stringify(Object.fromEntries(Object.entries(whole).filter(([key]) => keys.includes(key)))));
  const env = { ...process.env, NETLOOM_URL: lab.api.url, NETLOOM_TOKEN: lab.api.adminToken, NETLOOM_CONTEXTS: join(dir, 'no-contexts.yaml') };
  await new Promise<void>((done, fail) =>
    execFile(process.execPath, [CLI, 'apply', '-f', file, '--wait'], { env, timeout: 60_000 }, (error, stdout, stderr) =>
      error ? fail(new Error(`netloom apply -f ${TOPOLOGY_FILE} failed: ${stderr.trim() || error.message}\n${stdout}\n${lab.agentTails()}`)) : done(),
    ),
  );
}

interface PortNode {
  id: string;
  name: string;
  hostId: string;
  fixedIps: { ipAddress: string }[];
  status: StatusView[];
}

/** The file's ports read back from the API: each APPLIED on its host, with the namespace its agent made. */
export async function readWorld(lab: Lab, dir: string): Promise<World> {
  const { ports } = await lab.api.ok<{ ports: { edges: { node: PortNode }[] } }>(
    `{ ports(first: 1000) { edges { node { id name hostId fixedIps { ipAddress } status { ${STATUS_FIELDS} } } } } }`,
  );
  const found = new Map(ports.edges.map((e) => [e.node.name, e.node]));
  const views = PORT_NAMES.map((name): [PortName, PortView] => {
    const port = found.get(name);
    const applied = port?.status.find((s) => s.hostId === port.hostId && s.state === 'APPLIED' && s.reason === null);
    if (!port || !applied) throw new Error(`port ${name} is not APPLIED on its host: ${JSON.stringify(port?.status ?? 'no such port')}`);
    return [name, { id: port.id, name, hostId: port.hostId, ip: port.fixedIps[0].ipAddress, ns: attr(port.status, 'netns', port.hostId) }];
  });
  return { lab, dir, ports: Object.fromEntries(views) as Record<PortName, PortView> };
}

/** One line per port: name, host, address, namespace. */
export const portLines = (w: World): string[] =>
  PORT_NAMES.map((name) => `  ${name.padEnd(7)} host ${hostIndex(w, w.ports[name].hostId)}  ${w.ports[name].ip.padEnd(14)} namespace ${w.ports[name].ns}`);
