/**
 * Joining and the agent's state dir, end to end with a real controller and real agents: a join
 * whose answer is lost (the controller committed, the agent was killed before it heard), flags
 * checked before the join token is spent, the join token read from a file, and a state dir on
 * a small tmpfs that fills up while the agent must keep applying. Every Linux name carries a
 * per-run prefix; agents, mounts and kernel objects are removed afterwards, even on failure.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { AddressInfo, connect, createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JOIN_PATH } from '@netloom/protocol';
import { ControllerProcess } from './support/controller';
import { createHost, uniqueName } from './support/fixtures';
import { dist } from './support/paths';
import { AgentProcess, baseUrl, cleanupKernel, freePort, netnsList, run, runOk, waitFor, waitForDist } from './support/agent';

jest.setTimeout(120_000);

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
/** This run's prefix stem: 'j' + 2 random [a-z0-9]; each test's agent adds a letter (agents sharing a namespace need their own prefix). */
const P = `j${Array.from({ length: 2 }, () => ALPHABET[randomInt(ALPHABET.length)]).join('')}`;
const AGENT_MAIN = dist('apps/agent/src/main.js');

let c: ControllerProcess;
let controllerPort = 0;
let root = '';
const agents: AgentProcess[] = [];
const prefixes: string[] = [];
const mounts: string[] = [];
let subnetSeq = 0;

const newCredential = (): string => `nlh_${randomBytes(32).toString('base64url')}`;
const mode = (path: string): string => (statSync(path).mode & 0o777).toString(8);

async function startAgent(options: Omit<Parameters<typeof AgentProcess.start>[0], 'controllerUrl'> & { controllerUrl?: string }): Promise<AgentProcess> {
  if (!prefixes.includes(options.prefix)) prefixes.push(options.prefix);
  const agent = await AgentProcess.start({ controllerUrl: baseUrl(c.url), resyncMs: 2_000, ...options });
  agents.push(agent);
  return agent;
}

async function launchController(extra: string[] = []): Promise<void> {
  await waitForDist();
  await c.launch(['--port', String(controllerPort), ...extra]);
}

async function hostAgent(hostId: string): Promise<{ connected: boolean; stateError: string | null } | null> {
  const data = await c.ok<{ host: { agent: { connected: boolean; stateError: string | null } | null } }>(
    'query($id: ID!) { host(id: $id) { agent { connected stateError } } }',
    { id: hostId },
  );
  return data.host.agent;
}

/** POST /agent/join straight to the controller, as an agent would. */
async function postJoin(body: unknown): Promise<{ status: number; body: { hostId?: string; credential?: string; message?: string } }> {
  const response = await fetch(`${baseUrl(c.url)}${JOIN_PATH}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: response.status, body: (await response.json()) as { hostId?: string; credential?: string } };
}

/** A network, a subnet and a port on `hostId`, made with wait: true; returns the port's id and namespace, once APPLIED. */
async function applyPort(hostId: string): Promise<{ portId: string; netns: string }> {
  const net = await c.ok<{ createNetwork: { id: string } }>('mutation($input: CreateNetworkInput!) { createNetwork(input: $input, wait: true) { id } }', {
    input: { name: uniqueName(`${P}-net`) },
  });
  await c.ok('mutation($input: CreateSubnetInput!) { createSubnet(input: $input, wait: true) { id } }', {
    input: { name: uniqueName(`${P}-subnet`), networkId: net.createNetwork.id, cidr: `10.232.${++subnetSeq}.0/24` },
  });
  const data = await c.ok<{ createPort: { id: string; status: { state: string; hostId: string; attributes: { key: string; value: string }[] }[] } }>(
    'mutation($input: CreatePortInput!) { createPort(input: $input, wait: true) { id status { state hostId attributes { key value } } } }',
    { input: { name: uniqueName(`${P}-port`), networkId: net.createNetwork.id, hostId } },
  );
  const [status] = data.createPort.status;
  expect(status).toMatchObject({ state: 'APPLIED', hostId });
  const netns = status.attributes.find((a) => a.key === 'netns')?.value ?? '';
  expect(await netnsList()).toContain(netns);
  return { portId: data.createPort.id, netns };
}

/**
 * A TCP relay to the controller that passes everything except the answer to the first join:
 * that one is held back (the controller committed it; the agent never hears), and `held`
 * resolves with its first bytes. With `drop`, the agent's connection is then cut.
 */
async function joinAnswerThief(drop = false): Promise<{ url: string; held: Promise<string>; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  let taken = false;
  let hold!: (answer: string) => void;
  const held = new Promise<string>((done) => (hold = done));
  const server = createServer((client) => {
    const upstream = connect(controllerPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    let steal: boolean | undefined;
    client.on('data', (chunk: Buffer) => {
      if (steal === undefined) {
        steal = !taken && chunk.toString('latin1').startsWith(`POST ${JOIN_PATH} `);
        taken ||= steal;
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!steal) {
        client.write(chunk);
        return;
      }
      hold(chunk.toString('latin1'));
      if (drop) client.destroy();
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    held,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((done) => server.close(() => done()));
    },
  };
}

describe(`agent joining and state dir (prefix ${P}*)`, () => {
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), `netloom-join-${P}-`));
    controllerPort = await freePort();
    c = new ControllerProcess(mkdtempSync(join(tmpdir(), 'netloom-join-e2e-')));
    await launchController();
  });

  afterEach(async () => {
    for (const agent of agents.splice(0)) await agent.kill9().catch(() => undefined);
    for (const prefix of prefixes.splice(0)) await cleanupKernel(prefix).catch(() => undefined);
    for (const dir of mounts.splice(0)) if ((await run('umount', [dir])).code !== 0) await run('umount', ['-l', dir]);
  });

  afterAll(async () => {
    if (c) await c.destroy().catch(() => undefined);
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('a join whose answer was lost (agent killed -9 after the commit) is asked again with the stored credential; another credential is refused', async () => {
    const { host, joinToken } = await createHost(c, uniqueName(`${P}-host`));
    const stateDir = join(root, 'lost');
    const thief = await joinAnswerThief();
    try {
      const first = await startAgent({ controllerUrl: thief.url, joinToken, prefix: `${P}a`, stateDir });
      // The controller answered 200: the token is spent and a credential bound.
      expect(await thief.held).toMatch(/^HTTP\/1\.1 200/);
      expect(await hostAgent(host.id)).toMatchObject({ connected: false });
      await first.kill9();
      expect(first.lines.filter((l) => /joined as host/.test(l))).toEqual([]);
    } finally {
      await thief.close();
    }
    // The agent stored the credential (0600, no host yet) before posting.
    const pending = JSON.parse(readFileSync(join(stateDir, 'credential.json'), 'utf8')) as { hostId?: string; credential: string };
    expect(pending.hostId).toBeUndefined();
    expect(mode(join(stateDir, 'credential.json'))).toBe('600');
    expect(mode(stateDir)).toBe('700');

    // Someone else with the spent token and another credential: refused.
    expect((await postJoin({ joinToken, credential: newCredential() })).status).toBe(401);
    expect((await postJoin({ joinToken })).status).toBe(401);

    // The agent again, straight to the controller, same state dir: it joins, connects, applies.
    const again = await startAgent({ joinToken, prefix: `${P}a`, stateDir });
    await again.waitForLog(/joined as host/, 15_000);
    await waitFor(async () => (await hostAgent(host.id))?.connected, 15_000, 200, 'agent connected');
    expect(JSON.parse(readFileSync(join(stateDir, 'credential.json'), 'utf8'))).toEqual({ hostId: host.id, credential: pending.credential });
    await applyPort(host.id);

    // Inside the window the same pair gets the same answer; once the window is over, not any more.
    expect(await postJoin({ joinToken, credential: pending.credential })).toMatchObject({ status: 200, body: { hostId: host.id, credential: pending.credential } });
    await c.stop();
    await launchController(['--join-retry-ms', '1']);
    try {
      expect((await postJoin({ joinToken, credential: pending.credential })).status).toBe(401);
    } finally {
      await c.stop();
      await launchController();
    }
  });

  it.each([
    ['dropped', true],
    ['never came (the agent gives up after 10 s)', false],
  ])('a join whose answer %s after the commit is asked again by the same agent process, which then applies', async (_what, drop) => {
    const { host, joinToken } = await createHost(c, uniqueName(`${P}-host`));
    const thief = await joinAnswerThief(drop);
    try {
      const agent = await startAgent({ controllerUrl: thief.url, joinToken, prefix: `${P}d`, stateDir: join(root, drop ? 'dropped' : 'held') });
      expect(await thief.held).toMatch(/^HTTP\/1\.1 200/);
      await agent.waitForLog(/joined as host/, 25_000);
      // The first answer never arrived: the agent said why before it asked again.
      const joined = agent.lines.findIndex((l) => /joined as host/.test(l));
      expect(agent.lines.slice(0, joined).some((l) => /retrying in/.test(l))).toBe(true);
      await waitFor(async () => (await hostAgent(host.id))?.connected, 15_000, 200, 'agent connected');
      await applyPort(host.id);
    } finally {
      await thief.close();
    }
  });

  it('an agent with a bad --prefix exits before spending the join token; a good one then joins with the token from a file, not on its command line', async () => {
    await waitForDist();
    const { host, joinToken } = await createHost(c, uniqueName(`${P}-host`));
    const tokenFile = join(root, 'join-token');
    writeFileSync(tokenFile, `${joinToken}\n`, { mode: 0o600 });
    const stateDir = join(root, 'file');
    for (const bad of ['BAD', 'toolong', '1ab']) {
      const result = await run(process.execPath, [AGENT_MAIN, '--controller', baseUrl(c.url), '--prefix', bad, '--state-dir', stateDir, '--join-token-file', tokenFile]);
      expect(result.code).not.toBe(0);
      expect(result.stderr).toContain(`invalid prefix "${bad}"`);
    }
    expect(await hostAgent(host.id)).toBeNull();

    const agent = await startAgent({ joinTokenFile: tokenFile, prefix: `${P}b`, stateDir });
    await agent.waitForLog(/joined as host/, 15_000);
    await waitFor(async () => (await hostAgent(host.id))?.connected, 15_000, 200, 'agent connected');
    const cmdline = readFileSync(`/proc/${agent.pid}/cmdline`, 'latin1');
    expect(cmdline).toContain('--join-token-file');
    expect(cmdline).not.toContain(joinToken);
    expect(readFileSync(`/proc/${agent.pid}/environ`, 'latin1')).not.toContain(joinToken);
  });

  it('a full state dir (tmpfs) does not stop the agent: it applies, reports, and writes the state once there is room', async () => {
    const { host, joinToken } = await createHost(c, uniqueName(`${P}-host`));
    const stateDir = mkdtempSync(join(root, 'tmpfs-'));
    await runOk('mount', ['-t', 'tmpfs', '-o', 'size=256k,mode=0755', 'tmpfs', stateDir]);
    mounts.push(stateDir);
    // Left by an older agent: looser modes, tightened at start.
    writeFileSync(join(stateDir, 'applied.json'), JSON.stringify({ revision: 0, ports: {} }), { mode: 0o644 });
    const agent = await startAgent({ joinToken, prefix: `${P}c`, stateDir });
    await agent.waitForLog(/joined as host/, 15_000);
    await waitFor(async () => (await hostAgent(host.id))?.connected, 15_000, 200, 'agent connected');
    expect(mode(stateDir)).toBe('700');
    for (const file of ['credential.json', 'applied.json', 'desired.json']) expect(mode(join(stateDir, file))).toBe('600');
    const pid = agent.pid;

    // Fill it to the last page.
    const filler = join(stateDir, 'filler');
    for (const size of [64 * 1024, 4096]) {
      for (;;) {
        try {
          appendFileSync(filler, Buffer.alloc(size));
        } catch (error) {
          expect((error as NodeJS.ErrnoException).code).toBe('ENOSPC');
          break;
        }
      }
    }
    const mark = agent.mark();
    const { portId, netns } = await applyPort(host.id);
    expect(agent.running).toBe(true);
    expect(agent.pid).toBe(pid);
    await agent.waitForLog(/cannot write .*desired\.json.*(ENOSPC|no space)/i, 10_000, mark);
    expect(readFileSync(join(stateDir, 'desired.json'), 'utf8')).not.toContain(portId);
    const reported = await waitFor(async () => (await hostAgent(host.id))?.stateError, 10_000, 200, 'stateError on the host');
    expect(reported).toMatch(/ENOSPC|no space/i);

    rmSync(filler);
    await waitFor(() => readFileSync(join(stateDir, 'desired.json'), 'utf8').includes(portId), 10_000, 200, 'desired.json written');
    await waitFor(async () => (await hostAgent(host.id))?.stateError === null, 10_000, 200, 'stateError cleared');
    for (const file of ['credential.json', 'applied.json', 'desired.json']) expect(mode(join(stateDir, file))).toBe('600');
    expect(await netnsList()).toContain(netns);
    expect(agent.running).toBe(true);
  });
});
