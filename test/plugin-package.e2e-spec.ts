import { chmodSync, cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { Cluster, ControllerProcess } from '@netloom/simhosts';
import { runPrefix } from './support/plugin-e2e';
import { REPO_ROOT } from './support/paths';

// A third party's plugin, the whole way an outsider takes (libs/plugin-sdk/README.md, "Shipping
// a plugin"): the SDK packed into a tarball; the example plugin (examples/plugin-port-block)
// copied out of the repository, given that tarball, built and tested with its own npm scripts,
// packed; its tarball npm-installed into the plugin directories of a built controller and of
// built agents, which load it by package name; then driven through GraphQL and checked on packets.
const describeRoot = process.getuid?.() === 0 ? describe : describe.skip;
const PLUGIN = 'netloom-plugin-port-block';
const DHCP = 'netloom-plugin-dhcp';

// A plugin that tries to act on the host by itself, and one that dies: a loose module named by path.
const ROGUE = `
const { execFileSync } = require('node:child_process');
const { writeFileSync } = require('node:fs');
const { definePlugin, t, RealizationState } = require('@netloom/plugin-sdk');
const attempt = (what, fn) => { try { fn(); return what + ': done'; } catch (error) { return what + ': ' + String(error.stderr || error.message).trim(); } };
exports.default = definePlugin({
  id: 'test.rogue',
  version: '1.0.0',
  sdk: 1,
  kinds: { Rogue: { fields: { hostId: t.ref('Host'), mode: t.enum('Mode', ['ESCAPE', 'EXIT', 'HANG', 'LEAK', 'OK']), link: t.string() } } },
  controller: { place: (r) => [{ hostId: r.spec.hostId, spec: r.spec }] },
  agent: {
    async reconcile(desired) {
      if (desired.some((r) => r.spec.mode === 'HANG')) await new Promise(() => undefined);
      if (desired.some((r) => r.spec.mode === 'LEAK')) { const kept = []; for (;;) kept.push(new Array(1e6).fill(kept.length)); }
      return desired.map((r) => {
        if (r.spec.mode === 'EXIT') process.exit(7);
        if (r.spec.mode === 'OK') return { id: r.id, state: RealizationState.APPLIED, attributes: { uid: String(process.getuid()) } };
        const tried = [
          attempt('ip link add', () => execFileSync('ip', ['link', 'add', r.spec.link, 'type', 'dummy'], { stdio: 'pipe' })),
          attempt('write /proc/sys', () => writeFileSync('/proc/sys/net/ipv4/ip_forward', '1')),
        ];
        return { id: r.id, state: RealizationState.FAILED, reason: tried.join('; ') };
      });
    },
  },
});
`;

describeRoot('a plugin installed from a tarball (examples/plugin-port-block)', () => {
  jest.setTimeout(240_000);
  const prefix = runPrefix('k');
  let dir: string;
  let cluster: Cluster | undefined;

  const npm = (cwd: string, args: string[]) => execa('npm', [...args, '--no-audit', '--no-fund', '--prefer-offline'], { cwd, env: { ...process.env, npm_config_loglevel: 'error' } });
  const tarballIn = (folder: string): string => join(folder, readdirSync(folder).find((f) => f.endsWith('.tgz'))!);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), `netloom-outsider-${prefix}-`));
    // The agents run these plugins in sandbox processes as nobody, who must be able to read them.
    chmodSync(dir, 0o755);
    // The author's side: the packed SDK, and each example as a project of its own, built, tested and packed with its own scripts.
    await execa(process.execPath, [join(REPO_ROOT, 'dist/libs/plugin-sdk/pack-cli.js'), '--out', join(dir, 'sdk')], { cwd: REPO_ROOT });
    const tarballs: string[] = [];
    for (const example of ['plugin-port-block', 'plugin-dhcp']) {
      const author = join(dir, example);
      for (const part of ['package.json', 'tsconfig.json', 'src', 'test']) cpSync(join(REPO_ROOT, 'examples', example, part), join(author, part), { recursive: true });
      await npm(author, ['install', '--save-dev', tarballIn(join(dir, 'sdk'))]);
      await npm(author, ['test']);
      mkdirSync(join(dir, 'packed', example), { recursive: true });
      await npm(author, ['pack', '--pack-destination', join(dir, 'packed', example)]);
      tarballs.push(tarballIn(join(dir, 'packed', example)));
    }
    // The operator's side: the plugins npm-installed where the controller (by default <data-dir>/plugins) and the agents (--plugin-dir) look.
    await npm(dir, ['install', '--prefix', join(dir, 'controller', 'plugins'), ...tarballs]);
    await npm(dir, ['install', '--prefix', join(dir, 'agent-plugins'), ...tarballs]);
    writeFileSync(join(dir, 'rogue.js'), ROGUE, { mode: 0o644 });
    cluster = await Cluster.start({
      prefix,
      hosts: 2,
      resyncMs: 2_000,
      observeMs: 300,
      dataDir: join(dir, 'controller'),
      controllerArgs: ['--plugins', `${PLUGIN},${DHCP},${join(dir, 'rogue.js')}`],
      agentArgs: ['--plugins', `${PLUGIN},${DHCP},${join(dir, 'rogue.js')}`, '--plugin-dir', join(dir, 'agent-plugins'), '--daemon-allow', '/usr/sbin/dnsmasq', '--plugin-timeout-ms', '4000'],
    });
  });
  afterAll(async () => {
    await cluster?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("installs no copy of the SDK in a plugin directory: the plugin gets the host's own", () => {
    expect(readdirSync(join(dir, 'agent-plugins', 'node_modules')).filter((f) => !f.startsWith('.')).sort()).toEqual([DHCP, PLUGIN]);
  });

  it('loads on the built controller and agents; its kind is in the API and drops what it should', async () => {
    const c = cluster!.controller;
    const [h0, h1] = cluster!.hostIds;
    const { hosts } = await c.ok('{ hosts { edges { node { agent { plugins } } } } }');
    for (const edge of hosts.edges) expect(edge.node.agent.plugins).toContain('example.portblock@1.0.0');

    const { createNetwork } = await c.ok('mutation { createNetwork(input: { name: "outsider" }) { id } }');
    await c.ok('mutation($n: ID!) { createSubnet(input: { name: "s", networkId: $n, cidr: "10.87.0.0/24" }) { id } }', { n: createNetwork.id });
    const port = async (name: string, hostId: string) =>
      (
        await c.ok('mutation($n: ID!, $h: ID!, $name: String!) { createPort(wait: true, input: { name: $name, networkId: $n, hostId: $h }) { id fixedIps { ipAddress } status { attributes { key value } } } }', {
          n: createNetwork.id,
          h: hostId,
          name,
        })
      ).createPort as { id: string; fixedIps: { ipAddress: string }[]; status: { attributes: { key: string; value: string }[] }[] };
    const a = await port('a', h0);
    const b = await port('b', h1);
    const netns = (p: typeof a) => p.status[0].attributes.find((x) => x.key === 'netns')!.value;
    const ping = async (from: typeof a, to: typeof a) => (await execa('ip', ['netns', 'exec', netns(from), 'ping', '-c1', '-W1', to.fixedIps[0].ipAddress], { reject: false })).exitCode;
    expect(await ping(a, b)).toBe(0);

    // Bad input: the plugin's own error, with its code and field; nothing written.
    const refused = await c.gql('mutation($p: ID!) { createPortBlock(input: { name: "none", portId: $p, destinations: [] }) { id } }', { p: a.id });
    expect(refused.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.destinations' });
    expect((await c.ok('{ portBlocks { totalCount } }')).portBlocks.totalCount).toBe(0);

    const { createPortBlock } = await c.ok(
      'mutation($p: ID!, $d: [String!]!) { createPortBlock(wait: true, input: { name: "no-b", portId: $p, destinations: $d }) { id status { state hostId } } }',
      { p: a.id, d: [`${b.fixedIps[0].ipAddress}/32`] },
    );
    expect(createPortBlock.status).toEqual([{ state: 'APPLIED', hostId: h0 }]);
    expect(await ping(a, b)).not.toBe(0);
    // b may still open connections to a: a's answers pass.
    expect(await ping(b, a)).toBe(0);
    // What it dropped shows in the API, as the agent half observes it.
    let dropped = 0;
    for (const deadline = Date.now() + 10_000; dropped < 1 && Date.now() < deadline; ) {
      const { portBlock } = await c.ok('query($id: ID!) { portBlock(id: $id) { status { observed { ... on PortBlockObserved { dropped } } } } }', { id: createPortBlock.id });
      dropped = portBlock.status[0]?.observed?.dropped ?? 0;
      if (dropped < 1) await new Promise((r) => setTimeout(r, 200));
    }
    expect(dropped).toBe(1);

    await c.ok('mutation($id: ID!) { deletePortBlock(wait: true, input: { id: $id }) { deletedIds } }', { id: createPortBlock.id });
    expect(await ping(a, b)).toBe(0);
    await c.ok('mutation($id: ID!) { deleteNetwork(wait: true, input: { id: $id, cascade: true }) { revision } }', { id: createNetwork.id });
  });

  it('serves DHCP from a supervised dnsmasq on one host: a port on another host gets its IPAM address, and so does a port made later', async () => {
    const c = cluster!.controller;
    const [h0, h1] = cluster!.hostIds;
    const { createNetwork } = await c.ok('mutation { createNetwork(input: { name: "dhcp" }) { id } }');
    await c.ok('mutation($n: ID!) { createSubnet(input: { name: "s", networkId: $n, cidr: "10.88.0.0/24" }) { id } }', { n: createNetwork.id });
    const port = async (name: string) =>
      (
        await c.ok('mutation($n: ID!, $h: ID!, $name: String!) { createPort(wait: true, input: { name: $name, networkId: $n, hostId: $h }) { id macAddress fixedIps { ipAddress } status { attributes { key value } } } }', {
          n: createNetwork.id,
          h: h0,
          name,
        })
      ).createPort as { id: string; macAddress: string; fixedIps: { ipAddress: string }[]; status: { attributes: { key: string; value: string }[] }[] };
    /** The port's namespace forgets its address and asks for one over DHCP: the address it was offered ('' for none). */
    const ask = async (p: Awaited<ReturnType<typeof port>>): Promise<string> => {
      const netns = p.status[0].attributes.find((x) => x.key === 'netns')!.value;
      await execa('ip', ['-n', netns, 'addr', 'flush', 'dev', 'eth0']);
      const r = await execa('ip', ['netns', 'exec', netns, 'busybox', 'udhcpc', '-i', 'eth0', '-n', '-q', '-f', '-t', '4', '-T', '1', '-s', join(dir, 'bound.sh')], { reject: false });
      return /^bound (\S+)/m.exec(r.stdout)?.[1] ?? '';
    };
    writeFileSync(join(dir, 'bound.sh'), '#!/bin/sh\n[ "$1" = bound ] && echo "bound $ip"\nexit 0\n', { mode: 0o755 });

    const a = await port('a');
    const { createDhcpServer } = await c.ok(
      'mutation($n: ID!, $h: ID!) { createDhcpServer(wait: true, input: { name: "dhcp", networkId: $n, hostId: $h, address: "10.88.0.250" }) { id status { state hostId reason } } }',
      { n: createNetwork.id, h: h1 },
    );
    expect(createDhcpServer.status).toEqual([{ state: 'APPLIED', hostId: h1, reason: null }]);
    expect(await ask(a)).toBe(a.fixedIps[0].ipAddress);

    // A port made later is in dnsmasq's hosts file at once (re-read on SIGHUP, no restart).
    const b = await port('b');
    expect(await ask(b)).toBe(b.fixedIps[0].ipAddress);
    let observed: { running: boolean; restarts: number; leases: { mac: string; ip: string }[] } | null = null;
    for (const deadline = Date.now() + 10_000; (observed?.leases.length ?? 0) < 2 && Date.now() < deadline; ) {
      const { dhcpServer } = await c.ok('query($id: ID!) { dhcpServer(id: $id) { status { observed { ... on DhcpServerObserved { running restarts leases { mac ip } } } } } }', {
        id: createDhcpServer.id,
      });
      observed = dhcpServer.status[0]?.observed ?? null;
      if ((observed?.leases.length ?? 0) < 2) await new Promise((r) => setTimeout(r, 200));
    }
    expect(observed).toMatchObject({ running: true, restarts: 0 });
    expect(observed!.leases.map((l) => [l.mac, l.ip]).sort()).toEqual(
      [
        [a.macAddress, a.fixedIps[0].ipAddress],
        [b.macAddress, b.fixedIps[0].ipAddress],
      ].sort(),
    );

    await c.ok('mutation($id: ID!) { deleteDhcpServer(wait: true, input: { id: $id }) { deletedIds } }', { id: createDhcpServer.id });
    expect(await ask(a)).toBe('');
    await c.ok('mutation($id: ID!) { deleteNetwork(wait: true, input: { id: $id, cascade: true }) { revision } }', { id: createNetwork.id });
  });

  it("runs each plugin's agent half in a process of its own as nobody: the kernel refuses what a plugin tries by itself", async () => {
    const c = cluster!.controller;
    const [h0] = cluster!.hostIds;
    // Two agents, three plugins each, every one a sandbox process of nobody's.
    const { stdout } = await execa('pgrep', ['-u', 'nobody', '-f', `sandbox-child.js ${dir}/`], { reject: false });
    expect(stdout.trim().split('\n').filter(Boolean)).toHaveLength(6);

    const link = `${prefix}esc`;
    type Status = { state: string; reason: string | null; attributes: { key: string; value: string }[] };
    /** The rogue's status once its agent has reported one that is not PENDING (or `want` when given). */
    const settled = async (id: string, want?: string): Promise<Status> => {
      // A plugin process started again waits for its backoff (1 s, doubling) and the agent's next pass.
      for (const deadline = Date.now() + 40_000; ; ) {
        const { rogue: now } = await c.ok('query($id: ID!) { rogue(id: $id) { status { state reason attributes { key value } } } }', { id });
        const status = now.status[0] as Status | undefined;
        if (status && (want ? status.state === want : status.state !== 'PENDING')) return status;
        if (Date.now() > deadline) throw new Error(`rogue ${id}: still ${JSON.stringify(status)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    const rogue = async (mode: string): Promise<{ id: string; status: Status }> => {
      const { createRogue } = await c.ok('mutation($h: ID!, $m: RogueMode!, $l: String!) { createRogue(input: { name: "r", hostId: $h, mode: $m, link: $l }) { id } }', { h: h0, m: mode, l: link });
      return { id: createRogue.id, status: await settled(createRogue.id) };
    };
    const escape = await rogue('ESCAPE');
    expect(escape.status.state).toBe('FAILED');
    expect(escape.status.reason).toMatch(/ip link add: .*Operation not permitted/);
    expect(escape.status.reason).toMatch(/write \/proc\/sys: EACCES: permission denied/);
    const hostNs = cluster!.sim.hosts[0].name;
    expect((await execa('ip', ['-n', hostNs, 'link', 'show', link], { reject: false })).exitCode).not.toBe(0);
    await c.ok('mutation($id: ID!) { deleteRogue(wait: true, input: { id: $id }) { deletedIds } }', { id: escape.id });

    // A plugin whose process dies fails its own resources with the reason; the next pass starts it again.
    const dying = await rogue('EXIT');
    expect(dying.status).toMatchObject({ state: 'FAILED', reason: expect.stringMatching(/plugin process exited with 7/) as string });
    await c.ok('mutation($id: ID!) { updateRogue(input: { id: $id, mode: OK }) { id } }', { id: dying.id });
    const ok = await settled(dying.id, 'APPLIED');
    expect(ok.attributes.find((a) => a.key === 'uid')?.value).toBe((await execa('id', ['-u', 'nobody'])).stdout.trim());
    // One that hangs is killed at its deadline, one that leaks dies of its heap limit: each fails its own resources, says why, and comes back.
    for (const [mode, why] of [
      ['HANG', /plugin process did not answer reconcile within 3500 ms \(killed\)/],
      ['LEAK', /plugin process killed by SIGABRT: .*heap/i],
    ] as const) {
      await c.ok('mutation($id: ID!, $m: RogueMode!) { updateRogue(input: { id: $id, mode: $m }) { id } }', { id: dying.id, m: mode });
      expect((await settled(dying.id, 'FAILED')).reason).toMatch(why);
      await c.ok('mutation($id: ID!) { updateRogue(input: { id: $id, mode: OK }) { id } }', { id: dying.id });
      await settled(dying.id, 'APPLIED');
    }
    // The other plugins carried on: the DHCP example's and port block's processes are still the first ones.
    expect((await execa('pgrep', ['-u', 'nobody', '-f', `sandbox-child.js ${dir}/`])).stdout.trim().split('\n')).toHaveLength(6);
    await c.ok('mutation($id: ID!) { deleteRogue(wait: true, input: { id: $id }) { deletedIds } }', { id: dying.id });
  });

  it('refuses to start a controller with a plugin built for another SDK major, saying which it needs', async () => {
    // The same plugin, released for SDK 2: its package says so in its peer dependency.
    const future = join(dir, 'future');
    cpSync(join(dir, 'plugin-port-block'), future, { recursive: true, filter: (src) => !src.includes('node_modules') && !src.endsWith('.tgz') });
    await npm(future, ['pkg', 'set', 'name=netloom-plugin-future', 'peerDependencies.@netloom/plugin-sdk=^2.0.0']);
    mkdirSync(join(dir, 'future-packed'));
    await npm(future, ['pack', '--pack-destination', join(dir, 'future-packed')]);
    const dataDir = join(dir, 'future-controller');
    await npm(dir, ['install', '--prefix', join(dataDir, 'plugins'), tarballIn(join(dir, 'future-packed'))]);
    const controller = new ControllerProcess(dataDir);
    try {
      await expect(controller.launch(['--plugins', 'netloom-plugin-future'])).rejects.toThrow(
        /netloom-plugin-future@1\.0\.0 is built for @netloom\/plugin-sdk 2\.x \(\^2\.0\.0\); this NetLoom has SDK 1\.\d+\.\d+/,
      );
    } finally {
      await controller.stop().catch(() => undefined);
    }
  });
});
