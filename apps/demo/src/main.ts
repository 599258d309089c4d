import { ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { execa } from 'execa';

/**
 * `npm start`: a working NetLoom on this machine. Starts the controller (SQLite under
 * ./data/demo) and one agent, creates a network with two ports through the GraphQL API, proves
 * it with a ping between the ports' namespaces, and leaves the API up. Ctrl-C deletes the
 * network (the agent removes its bridge, veths and namespaces), stops both processes and
 * removes the demo's data.
 */
const DIST = resolve(__dirname, '../..');
const DATA = resolve(process.env.NETLOOM_DEMO_DIR ?? 'data/demo');
const PORT = process.env.NETLOOM_PORT ?? '8080';
const children: ChildProcess[] = [];
const say = (line: string): void => void process.stdout.write(`${line}\n`);

function start(script: string, args: string[], name: string): ChildProcess {
  // A process group of its own: Ctrl-C reaches only the demo, which then stops things in order.
  const child = spawn(process.execPath, [join(DIST, script), ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  children.push(child);
  createInterface({ input: child.stderr }).on('line', (line) => {
    if (process.env.NETLOOM_DEMO_VERBOSE) say(`  [${name}] ${line}`);
  });
  child.once('exit', (code, signal) => {
    if (!stopping) {
      say(`${name} exited (${signal ?? code}); stopping the demo`);
      void stop(1);
    }
  });
  return child;
}

async function controllerUp(): Promise<{ url: string; token: string }> {
  const child = start('controller/src/main.js', ['--data-dir', DATA, '--port', PORT], 'controller');
  return new Promise((ok, fail) => {
    let url = '';
    const timer = setTimeout(() => fail(new Error('the controller did not start in 30 s')), 30_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const [key, value] = line.split('=', 2);
      if (key === 'NETLOOM_URL') url = value;
      if (key === 'NETLOOM_ADMIN_TOKEN') {
        clearTimeout(timer);
        ok({ url, token: value });
      }
    });
  });
}

let api: { url: string; token: string };
async function gql<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const response = await fetch(api.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${api.token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: T; errors?: { message: string }[] };
  if (body.errors?.length) throw new Error(body.errors.map((e) => e.message).join('; '));
  return body.data!;
}

let networkId: string | undefined;
let stopping = false;
/** Exact names of the kernel objects the agent reported, removed by hand if the API cannot. */
const created = { netns: new Set<string>(), links: new Set<string>() };

async function stop(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  say('\nStopping: deleting the demo network (the agent removes its kernel objects)…');
  try {
    if (networkId) await gql<unknown>('mutation($id: ID!) { deleteNetwork(wait: true, input: { id: $id, cascade: true }) { revision } }', { id: networkId });
  } catch (error) {
    say(`  could not delete the network: ${error instanceof Error ? error.message : String(error)}`);
  }
  for (const child of children.reverse()) {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((done) => child.once('exit', done));
      child.kill('SIGTERM');
      await exited;
    }
  }
  // Normally the agent already removed these when the network went; this covers a failed delete.
  for (const ns of created.netns) await execa('ip', ['netns', 'del', ns], { reject: false });
  for (const link of created.links) await execa('ip', ['link', 'del', link], { reject: false });
  rmSync(DATA, { recursive: true, force: true });
  say('Done: processes stopped, kernel objects and demo data removed.');
  process.exit(code);
}

async function main(): Promise<void> {
  rmSync(DATA, { recursive: true, force: true });
  mkdirSync(DATA, { recursive: true });
  process.once('SIGINT', () => void stop(0));
  process.once('SIGTERM', () => void stop(0));

  api = await controllerUp();
  say(`NetLoom controller: ${api.url}`);
  say(`Admin token (shown once): ${api.token}`);

  const { createHost } = await gql<{ createHost: { host: { id: string }; joinToken: string } }>('mutation { createHost(input: { name: "demo-host", vtepAddress: "192.0.2.1" }) { host { id } joinToken } }');
  start('agent/src/main.js', ['--controller', api.url.replace(/\/graphql$/, ''), '--join-token', createHost.joinToken, '--state-dir', join(DATA, 'agent'), '--prefix', 'nl'], 'agent');
  const hostId: string = createHost.host.id;
  for (let i = 0; ; i++) {
    const { host } = await gql<{ host: { agent: { connected: boolean } | null } }>('query($id: ID!) { host(id: $id) { agent { connected } } }', { id: hostId });
    if (host.agent?.connected) break;
    if (i > 100) throw new Error('the agent did not connect in 10 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  say('Agent connected.');

  const { createNetwork } = await gql<{ createNetwork: { id: string; vni: number } }>('mutation { createNetwork(input: { name: "demo", labels: [{ key: "app", value: "demo" }] }) { id vni } }');
  networkId = createNetwork.id;
  await gql<unknown>('mutation($n: ID!) { createSubnet(input: { name: "demo-v4", networkId: $n, cidr: "10.123.0.0/24" }) { id } }', { n: networkId });
  const started = Date.now();
  type DemoPort = { name: string; fixedIps: { ipAddress: string }[]; status: { state: string; attributes: { key: string; value: string }[] }[] };
  const { createPorts: ports } = await gql<{ createPorts: DemoPort[] }>(
    `mutation($n: ID!, $h: ID!) { createPorts(wait: true, inputs: [
       { name: "web", networkId: $n, hostId: $h }, { name: "db", networkId: $n, hostId: $h }]) {
       name fixedIps { ipAddress } status { state attributes { key value } } } }`,
    { n: networkId, h: hostId },
  );
  say(`Network "demo" (VNI ${createNetwork.vni}) with 2 ports, applied on the host in ${Date.now() - started} ms:`);
  const attribute = (p: DemoPort, key: string): string => p.status[0].attributes.find((a) => a.key === key)!.value;
  const netnsOf = (p: DemoPort): string => attribute(p, 'netns');
  for (const p of ports) {
    created.netns.add(netnsOf(p));
    created.links.add(attribute(p, 'hostInterface')).add(attribute(p, 'bridge'));
  }
  for (const p of ports) say(`  ${p.name}: ${p.fixedIps[0].ipAddress} in namespace ${netnsOf(p)} (${p.status[0].state})`);

  const [web, db] = ports;
  say(`\nProof: ping from ${web.name} to ${db.name} (${db.fixedIps[0].ipAddress}):`);
  const ping = await execa('ip', ['netns', 'exec', netnsOf(web), 'ping', '-c', '3', '-W', '1', db.fixedIps[0].ipAddress], { reject: false });
  say(ping.stdout.split('\n').map((l) => `  ${l}`).join('\n'));
  say(ping.exitCode === 0 ? '\nThe ports talk. ' : '\nPING FAILED. ');
  say(`The API stays up at ${api.url} (token above); try:`);
  say(`  curl -s ${api.url} -H 'content-type: application/json' -H 'authorization: Bearer ${api.token}' \\`);
  say(`    -d '{"query":"{ ports { edges { node { name fixedIps { ipAddress } status { state } } } } }"}'`);
  say('Press Ctrl-C to stop and remove everything.');
}

main().catch((error: unknown) => {
  say(`demo failed: ${error instanceof Error ? error.message : String(error)}`);
  void stop(1);
});
