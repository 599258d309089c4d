/**
 * The `netloom` CLI as built (dist/apps/cli/src/main.js), against a built controller with two
 * fake agents: login into a temporary contexts file, get/describe/delete of the core kinds and of
 * a plugin kind (routers), output formats, label selectors, a failure's reason, watch, a viewer
 * refused, bad kinds and names, --help everywhere, completion.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { FakeAgent } from '@netloom/simhosts';
import { baseUrl, waitFor } from './support/agent';
import { runCli, startWatch, untilShown, type CliRun } from './support/cli';
import { createHost, createNetwork, createPort, createSubnet, uniqueName, useController } from './support/fixtures';

jest.setTimeout(120_000);


describe('the netloom CLI', () => {
  const ctl = useController();
  const dir = mkdtempSync(join(tmpdir(), 'netloom-cli-e2e-'));
  const config = join(dir, 'home', 'netloom', 'config.yaml');
  const agents: FakeAgent[] = [];
  let viewerToken = '';
  const names = { h1: uniqueName('h1'), h2: uniqueName('h2'), dev: uniqueName('dev'), prod: uniqueName('prod'), web: uniqueName('web'), db: uniqueName('db'), router: uniqueName('r') };
  let webId = '';
  let devId = '';

  const cli = (args: string[], env: Record<string, string> = {}): Promise<CliRun> => runCli(config, args, env);
  const ok = async (args: string[], env: Record<string, string> = {}): Promise<string> => {
    const run = await cli(args, env);
    expect({ args, code: run.code, stderr: run.stderr }).toEqual({ args, code: 0, stderr: '' });
    return run.stdout;
  };
  /** The table row whose first cell is `name`, split on the column gaps. */
  const row = (table: string, name: string): string[] | undefined =>
    table
      .split('\n')
      .map((line) => line.split(/ {3,}/))
      .find((cells) => cells[0] === name);

  beforeAll(async () => {
    const c = ctl();
    viewerToken = (await c.ok<{ createApiToken: { secret: string } }>('mutation { createApiToken(input: { name: "cli-viewer", role: VIEWER }) { secret } }')).createApiToken
      .secret;
    const h1 = await createHost(c, names.h1, '192.0.2.61');
    const h2 = await createHost(c, names.h2, '192.0.2.62');
    for (const h of [h1, h2]) {
      const agent = await FakeAgent.join(baseUrl(c.url), h.joinToken);
      agents.push(agent);
      await agent.connect();
    }
    const dev = await createNetwork(c, { name: names.dev, labels: [{ key: 'env', value: 'dev' }] });
    await createNetwork(c, { name: names.prod, labels: [{ key: 'env', value: 'prod' }] });
    devId = dev.id;
    const subnet = await createSubnet(c, dev.id, '10.61.0.0/24');
    webId = (await createPort(c, dev.id, h1.host.id, { name: names.web, labels: [{ key: 'tier', value: 'web' }] })).id;
    await createPort(c, dev.id, h2.host.id, { name: names.db });
    await c.ok('mutation($input: CreateRouterInput!) { createRouter(input: $input) { id } }', {
      input: { name: names.router, hostId: h1.host.id, interfaces: [{ subnetId: subnet.id }] },
    });
  });

  afterAll(async () => {
    for (const agent of agents) await agent.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('logs in with a token file into a contexts file kept 0600, with several named contexts', async () => {
    const tokenFile = join(dir, 'admin-token');
    writeFileSync(tokenFile, `${ctl().adminToken}\n`, { mode: 0o600 });
    expect(await ok(['login', '--url', ctl().url, '--token-file', tokenFile, '--context', 'admin'])).toMatch(/as .* \(ADMIN\); context "admin" is current/);
    expect(statSync(config).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'home', 'netloom')).mode & 0o777).toBe(0o700);
    expect(await ok(['login', '--url', ctl().url, '--token', viewerToken, '--context', 'viewer'])).toContain('as cli-viewer (VIEWER)');
    expect(statSync(config).mode & 0o777).toBe(0o600);

    const contexts = await ok(['config', 'get-contexts']);
    expect(row(contexts, '*')?.slice(1)).toEqual(['viewer', ctl().url]);
    expect(row(contexts, 'admin')).toBeUndefined(); // (the CURRENT cell is blank: "admin" is the second cell)
    expect(contexts).toMatch(/\n\s+admin\s/);
    expect(await ok(['config', 'use-context', 'admin'])).toContain('Switched to context "admin"');
    expect((await ok(['config', 'current-context'])).trim()).toBe('admin');

    // A bad token is refused before anything is stored.
    const refused = await cli(['login', '--url', ctl().url, '--token', 'nlt_wrong', '--context', 'bad']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('(UNAUTHENTICATED)');
    expect(await ok(['config', 'get-contexts'])).not.toContain('bad');
  });

  it('lists hosts, networks, subnets and ports as tables, with status per host', async () => {
    const hosts = await ok(['get', 'hosts']);
    expect(hosts.split('\n')[0].split(/ {3,}/)).toEqual(['NAME', 'VTEP', 'AGENT', 'PORTS', 'AGE']);
    expect(row(hosts, names.h1)?.slice(0, 4)).toEqual([names.h1, '192.0.2.61', 'CONNECTED', '1']);

    // The agents ack what they are sent: wait for the network to be applied on both hosts.
    await waitFor(async () => row(await ok(['get', 'networks']), names.dev)?.[4] === '2/2 APPLIED', 15_000, 200, 'the network applied on both hosts');
    const networks = await ok(['get', 'network']);
    expect(row(networks, names.dev)?.slice(2, 5)).toEqual(['10.61.0.0/24', '2', '2/2 APPLIED']);
    expect((await ok(['get', 'subnets'])).split('\n')[0]).toMatch(/^NAME\s+NETWORK\s+CIDR\s+GATEWAY\s+AGE$/);

    await waitFor(async () => row(await ok(['get', 'ports']), names.web)?.[4] === '1/1 APPLIED', 15_000, 200, 'the port applied');
    const ports = await ok(['get', 'ports', '-o', 'wide']);
    expect(row(ports, names.web)?.slice(0, 5)).toEqual([names.web, names.dev, names.h1, '10.61.0.2', '1/1 APPLIED']);
    expect(ports.split('\n')[0]).toMatch(/MAC\s+NETNS\s+SECURITY\s+LABELS$/);
    expect(row(ports, names.web)).toContain('tier=web');
  });

  it('prints JSON and YAML that parse, and filters by labels through the API', async () => {
    const one = JSON.parse(await ok(['get', 'network', names.dev, '-o', 'json']));
    expect(one).toMatchObject({ name: names.dev, labels: [{ key: 'env', value: 'dev' }] });
    const ports = parse(await ok(['get', 'ports', '-o', 'yaml'])) as { name: string; host: { name: string } }[];
    expect(ports.map((p) => [p.name, p.host.name]).sort()).toEqual([[names.db, names.h2], [names.web, names.h1]].sort());

    const dev = await ok(['get', 'networks', '-l', 'env=dev']);
    expect(row(dev, names.dev)).toBeDefined();
    expect(row(dev, names.prod)).toBeUndefined();
    const both = JSON.parse(await ok(['get', 'networks', '-o', 'json', '-l', 'env=prod'])) as { name: string }[];
    expect(both.map((n) => n.name)).toEqual([names.prod]);
    expect(await ok(['get', 'ports', '-l', 'tier=nothing'])).toBe('No ports found.\n');
    const bad = await cli(['get', 'networks', '-l', 'env!=dev']);
    expect([bad.code, bad.stderr]).toEqual([1, expect.stringContaining('only key=value terms')]);
  });

  it('reads a plugin kind from the schema: routers in a table, by name, described', async () => {
    await waitFor(async () => /1\/1 APPLIED/.test(row(await ok(['get', 'routers']), names.router)?.join(' ') ?? ''), 15_000, 200, 'the router applied');
    const table = await ok(['get', 'router']);
    expect(table.split('\n')[0]).toMatch(/^NAME\s.*INTERFACES\s.*STATUS\s+AGE$/);
    expect(JSON.parse(await ok(['get', 'Routers', names.router, '-o', 'json']))).toMatchObject({ name: names.router, interfaces: [{ ipAddress: null }] });
    const described = await ok(['describe', 'router', names.router]);
    expect(described).toMatch(new RegExp(`^Name:\\s+${names.router}$`, 'm'));
    expect(described).toMatch(/^Kind:\s+Router$/m);
    expect(described).toContain(`  ${names.h1}  APPLIED`);
    expect(described).toContain(`  host: ${names.h1}`);
    // The other plugin kinds are there too, by any spelling.
    for (const kind of ['load-balancers', 'LoadBalancer', 'firewall-policies', 'address-groups', 'taps']) {
      expect({ kind, out: await ok(['get', kind]) }).toEqual({ kind, out: expect.stringMatching(/^No \w+ found\.\n$/) });
    }
  });

  it('describes objects with their related objects, and a failure with its reason', async () => {
    const network = await ok(['describe', 'network', names.dev]);
    expect(network).toMatch(/^Labels:\s+env=dev$/m);
    expect(network).toContain('  subnets: 1');
    expect(network).toMatch(/^ {4}\S+\s+10\.61\.0\.0\/24$/m);
    expect(network).toContain('  ports: 2');

    agents[0].fail({ kind: 'Port', id: webId }, 'veth: RTNETLINK answers: File exists');
    await waitFor(async () => row(await ok(['get', 'ports']), names.web)?.[4] === `FAILED on ${names.h1}`, 15_000, 200, 'the port failed');
    const port = await ok(['describe', 'port', names.web]);
    expect(port).toContain(`  ${names.h1}  FAILED: veth: RTNETLINK answers: File exists`);
    expect(port).toContain(`  network: ${names.dev}`);
    expect(port).toContain(`  host: ${names.h1}`);
    expect(port).toMatch(/^Addresses:\s+10\.61\.0\.2 \(/m);

    const host = await ok(['describe', 'host', names.h1]);
    expect(host).toContain('  state: CONNECTED');
    expect(host).toContain('  ports: 1');
  });

  it('watches changes over graphql-ws, a line per change, until Ctrl-C', async () => {
    const watch = await startWatch(config, ['networks']);
    try {
      const shown = await untilShown(async () => (await createNetwork(ctl())).name, watch.stdout);
      expect(watch.stdout()).toMatch(new RegExp(`rev \\d+  CREATE  Network  ${shown}  generation 1`));
      expect(watch.stdout()).not.toMatch(/ Port /);
    } finally {
      expect(await watch.stop()).toBe(0);
    }
  });

  it('watches the status agents report too, with --status', async () => {
    const watch = await startWatch(config, ['ports', '--status']);
    try {
      const shown = await untilShown(async () => (await createPort(ctl(), devId, agents[1].hostId)).name, watch.stdout);
      await waitFor(() => new RegExp(`status  Port  ${shown}  on ${names.h2}: APPLIED`).test(watch.stdout()), 15_000, 50, 'the status line');
      expect(watch.stdout()).toMatch(new RegExp(`CREATE  Port  ${shown}  generation 1`));
    } finally {
      expect(await watch.stop()).toBe(0);
    }
  });

  it('deletes by name: refused to a viewer with the API code, done for an admin', async () => {
    const refused = await cli(['--context', 'viewer', 'delete', 'port', names.db]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^error: .*\(FORBIDDEN\)\n$/);
    expect((await cli(['get', 'port', names.db])).code).toBe(0);

    expect(await ok(['delete', 'port', names.db, '--wait'])).toMatch(new RegExp(`^Port "${names.db}" deleted \\(revision \\d+\\)`));
    const gone = await cli(['get', 'port', names.db]);
    expect([gone.code, gone.stderr]).toEqual([1, `error: Port "${names.db}" not found\n`]);
    expect(await ok(['delete', 'routers', names.router])).toContain(`Router "${names.router}" deleted`);
    expect(await ok(['get', 'routers'])).toBe('No routers found.\n');
    // A network with a subnet and a port goes only with --cascade.
    const blocked = await cli(['delete', 'network', names.dev]);
    expect(blocked.code).toBe(1);
    expect(blocked.stderr).toMatch(/still has 1 subnet\(s\) and \d+ port\(s\).*\(CONFLICT\)/);
    expect(await ok(['delete', 'network', names.dev, '--cascade'])).toMatch(/deleted with [2-9] dependent object\(s\)/);
  });

  it('takes NETLOOM_URL and NETLOOM_TOKEN over the stored context', async () => {
    const asViewer = await cli(['delete', 'host', names.h2], { NETLOOM_TOKEN: viewerToken });
    expect(asViewer.stderr).toContain('(FORBIDDEN)');
    const elsewhere = await cli(['get', 'hosts'], { NETLOOM_URL: 'http://127.0.0.1:1/graphql' });
    expect([elsewhere.code, elsewhere.stderr]).toEqual([1, expect.stringContaining('cannot reach http://127.0.0.1:1/graphql')]);
    const alone = await cli(['get', 'hosts'], { NETLOOM_CONTEXTS: join(dir, 'none.yaml'), NETLOOM_URL: ctl().url, NETLOOM_TOKEN: viewerToken });
    expect(row(alone.stdout, names.h2)).toBeDefined();
  });

  it('says what is wrong with an unknown kind, name or context, exit 1', async () => {
    const kind = await cli(['get', 'widgets']);
    expect([kind.code, kind.stderr]).toEqual([1, expect.stringMatching(/^error: unknown kind "widgets"; the API offers: hosts, networks, subnets, ports, .*routers/)]);
    const name = await cli(['describe', 'host', 'no-such-host']);
    expect([name.code, name.stderr]).toEqual([1, 'error: Host "no-such-host" not found\n']);
    const context = await cli(['--context', 'nope', 'get', 'hosts']);
    expect([context.code, context.stderr]).toEqual([1, expect.stringContaining('no context named "nope"')]);
    const usage = await cli(['describe', 'host']);
    expect([usage.code, usage.stderr]).toEqual([1, expect.stringContaining("missing required argument 'name'")]);
  });

  it('answers --help on every command, and prints a bash completion that completes', async () => {
    for (const path of [[], ['login'], ['config'], ['config', 'get-contexts'], ['config', 'use-context'], ['config', 'current-context'], ['get'], ['describe'], ['delete'], ['watch'], ['completion']]) {
      const run = await cli([...path, '--help']);
      expect({ path, code: run.code, usage: run.stdout.split('\n')[0] }).toEqual({ path, code: 0, usage: expect.stringContaining(`Usage: netloom ${path.join(' ')}`.trim()) });
    }
    const script = await ok(['completion', 'bash']);
    const complete = (words: string[]): Promise<string[]> =>
      new Promise((done, fail) =>
        execFile(
          'bash',
          ['-c', `${script}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _netloom_complete; echo "\${COMPREPLY[*]}"`],
          (error, stdout) => (error ? fail(new Error(`bash: ${error.message}`)) : done(stdout.trim().split(' '))),
        ),
      );
    expect(await complete(['netloom', 'de'])).toEqual(['describe', 'delete']);
    expect(await complete(['netloom', 'config', ''])).toEqual(expect.arrayContaining(['get-contexts', 'use-context', 'current-context']));
    expect(await complete(['netloom', '--context', 'x', 'get', 'hosts', '--o'])).toEqual(['--output']);
    expect((await cli(['completion', 'fish'])).code).toBe(1);
  });

  it('has its generated operations up to date with schema.graphql and the documents', async () => {
    const codegen = resolve(__dirname, '../node_modules/.bin/graphql-codegen');
    const run = await new Promise<CliRun>((done) =>
      execFile(codegen, ['--config', 'apps/cli/codegen.yml', '--check'], { cwd: resolve(__dirname, '..') }, (error, stdout, stderr) =>
        done({ code: error ? 1 : 0, stdout, stderr }),
      ),
    );
    expect({ code: run.code, out: run.stdout + run.stderr }).toEqual({ code: 0, out: expect.any(String) });
  });
});
