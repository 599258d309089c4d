import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
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

describeRoot('a plugin installed from a tarball (examples/plugin-port-block)', () => {
  jest.setTimeout(240_000);
  const prefix = runPrefix('k');
  let dir: string;
  let pluginTarball: string;
  let cluster: Cluster | undefined;

  const npm = (cwd: string, args: string[]) => execa('npm', [...args, '--no-audit', '--no-fund', '--prefer-offline'], { cwd, env: { ...process.env, npm_config_loglevel: 'error' } });
  const tarballIn = (folder: string): string => join(folder, readdirSync(folder).find((f) => f.endsWith('.tgz'))!);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), `netloom-outsider-${prefix}-`));
    // The author's side: the packed SDK, and the example as a project of its own.
    await execa(process.execPath, [join(REPO_ROOT, 'dist/libs/plugin-sdk/pack-cli.js'), '--out', join(dir, 'sdk')], { cwd: REPO_ROOT });
    const author = join(dir, 'author');
    for (const part of ['package.json', 'tsconfig.json', 'src', 'test']) cpSync(join(REPO_ROOT, 'examples/plugin-port-block', part), join(author, part), { recursive: true });
    await npm(author, ['install', '--save-dev', tarballIn(join(dir, 'sdk'))]);
    await npm(author, ['test']);
    mkdirSync(join(dir, 'packed'));
    await npm(author, ['pack', '--pack-destination', join(dir, 'packed')]);
    pluginTarball = tarballIn(join(dir, 'packed'));
    // The operator's side: the plugin npm-installed where the controller (by default <data-dir>/plugins) and the agents (--plugin-dir) look.
    await npm(dir, ['install', '--prefix', join(dir, 'controller', 'plugins'), pluginTarball]);
    await npm(dir, ['install', '--prefix', join(dir, 'agent-plugins'), pluginTarball]);
    cluster = await Cluster.start({
      prefix,
      hosts: 2,
      resyncMs: 2_000,
      observeMs: 300,
      dataDir: join(dir, 'controller'),
      controllerArgs: ['--plugins', PLUGIN],
      agentArgs: ['--plugins', PLUGIN, '--plugin-dir', join(dir, 'agent-plugins')],
    });
  });
  afterAll(async () => {
    await cluster?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("installs no copy of the SDK in a plugin directory: the plugin gets the host's own", () => {
    expect(readdirSync(join(dir, 'agent-plugins', 'node_modules')).filter((f) => !f.startsWith('.'))).toEqual([PLUGIN]);
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

  it('refuses to start a controller with a plugin built for another SDK major, saying which it needs', async () => {
    // The same plugin, released for SDK 2: its package says so in its peer dependency.
    const future = join(dir, 'future');
    cpSync(join(dir, 'author'), future, { recursive: true, filter: (src) => !src.includes('node_modules') && !src.endsWith('.tgz') });
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
