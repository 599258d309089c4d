// The systemd units and environment files of deploy/systemd, checked against this build:
// `systemd-analyze verify` on copies whose install paths point here; every NETLOOM_* name they
// (and the Containerfiles) set or show is one the binaries read; and each unit's command line,
// environment, user and capability bound (setpriv standing in for systemd, which is not PID 1
// here) start a real controller serving HTTPS as nobody with no capabilities, and a real agent
// holding only the capabilities its unit keeps, which joins with its token file, applies ports,
// a router and a firewall policy proved by packets, and removes everything with --cleanup.
import { ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { createInterface } from 'node:readline';
import { OutputLines } from '@netloom/simhosts';
import { cleanupKernel, freePort, leftovers, ping, run, waitForDist } from './support/agent';
import { runPrefix } from './support/plugin-e2e';
import { REPO_ROOT } from './support/paths';
import { capabilities, environmentFile, netloomNames, parseUnit, serviceRun, serviceValue, values, type ServiceRun, type Unit } from './support/systemd-units';
import { httpsGql, makeCa, makeServerCert } from './support/tls';

jest.setTimeout(120_000);

const describeRoot = process.getuid?.() === 0 ? describe : describe.skip;
const P = runPrefix('y');
const UNITS = join(REPO_ROOT, 'deploy/systemd');
const INSTALL = '/opt/netloom';
const NODE = '/usr/bin/node';
const unitOf = (name: string): Unit => parseUnit(readFileSync(join(UNITS, `${name}.service`), 'utf8'));
/** A word of a unit with the install layout mapped onto this checkout and its build. */
const rewrite = (word: string): string => word.replace(NODE, process.execPath).replace(INSTALL, REPO_ROOT);

/** The NETLOOM_* variables a built binary reads: those its `--help` lists, and the trace switch every binary knows. */
function variablesOf(app: 'controller' | 'agent'): Set<string> {
  const help = execFileSync(process.execPath, [join(REPO_ROOT, 'dist', 'apps', app, 'src', 'main.js'), '--help'], { encoding: 'utf8' });
  return new Set([...help.matchAll(/\benv:\s+(NETLOOM_[A-Z0-9_]+)/g)].map((m) => m[1]).concat('NETLOOM_TRACE'));
}

/** A process of a unit, its output kept line by line. */
class Service {
  readonly output = new OutputLines();
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;

  constructor(readonly name: string, command: ServiceRun) {
    this.child = spawn(command.argv[0], command.argv.slice(1), { env: command.env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = new Promise((done) => this.child.once('exit', (code) => done(code)));
    createInterface({ input: this.child.stdout! }).on('line', (line) => this.output.push(`[stdout] ${line}`));
    createInterface({ input: this.child.stderr! }).on('line', (line) => this.output.push(line));
  }

  waitFor(pattern: RegExp, timeoutMs = 30_000): Promise<string> {
    return this.output.waitFor(pattern, timeoutMs, 0, this.name);
  }

  /** SIGTERM, as systemctl stop sends (SIGKILL after 10 s), and the exit code. */
  async stop(): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
      await this.exited;
      clearTimeout(timer);
    }
    return this.exited;
  }
}

/** The capabilities of a running process (`/proc/PID/status`). */
function effectiveCapabilities(pid: number): bigint {
  const line = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return BigInt(`0x${line![1]}`);
}

// The numbers of the capabilities the agent's unit may keep (linux/capability.h).
const CAPABILITY_BITS: Record<string, number> = { CAP_KILL: 5, CAP_SETGID: 6, CAP_SETUID: 7, CAP_NET_BIND_SERVICE: 10, CAP_NET_ADMIN: 12, CAP_NET_RAW: 13, CAP_SYS_ADMIN: 21 };

/** `systemd-analyze verify` of one unit file: its exit status and everything it printed. */
function verify(file: string): { status: number | null; output: string } {
  const result = spawnSync('systemd-analyze', ['verify', '--man=no', file], { encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

describe('deploy/systemd units', () => {
  it('pass systemd-analyze verify, with their paths mapped onto this build', () => {
    const dir = mkdtempSync(join(tmpdir(), 'netloom-units-'));
    try {
      for (const name of ['netloom-controller', 'netloom-agent']) {
        const text = readFileSync(join(UNITS, `${name}.service`), 'utf8');
        const exec = serviceValue(parseUnit(text), 'ExecStart')!.split(/\s+/);
        // What the ExecStart runs: node at the documented path, a script of the install.
        expect(exec[0]).toBe(NODE);
        const script = exec.find((word) => word.startsWith(`${INSTALL}/`))!;
        expect(existsSync(rewrite(script))).toBe(true);
        const copy = join(dir, `${name}.service`);
        writeFileSync(copy, text.split('\n').map((line) => (line.startsWith('ExecStart=') ? rewrite(line) : line)).join('\n'));
        // Unknown keys and values systemd cannot parse are warnings with exit 0: none allowed.
        expect(verify(copy)).toEqual({ status: 0, output: '' });
      }
      // The check can fail: a misspelt key is reported.
      const bad = join(dir, 'netloom-bad.service');
      writeFileSync(bad, readFileSync(join(UNITS, 'netloom-agent.service'), 'utf8').replace('NoNewPrivileges=', 'NoNewPrivilege=').replace(NODE, process.execPath));
      expect(verify(bad).output).toMatch(/Unknown key .*NoNewPrivilege\b/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('and the container recipes set only variables the binaries read, and the env files show every one', () => {
    // What an env file may leave out: set by the unit itself, or not a service's setting.
    const notInEnvFile = { controller: ['NETLOOM_DATA_DIR', 'NETLOOM_TLS_CERT', 'NETLOOM_TLS_KEY'], agent: ['NETLOOM_STATE_DIR', 'NETLOOM_JOIN_TOKEN', 'NETLOOM_CLEANUP'] };
    for (const [app, files] of [
      ['controller', ['systemd/netloom-controller.service', 'systemd/controller.env', 'container/Containerfile.controller']],
      ['agent', ['systemd/netloom-agent.service', 'systemd/agent.env', 'container/Containerfile.agent']],
    ] as const) {
      const read = variablesOf(app);
      expect(read.size).toBeGreaterThan(10);
      const names = files.flatMap((file) => netloomNames(readFileSync(join(REPO_ROOT, 'deploy', file), 'utf8')));
      expect(names.filter((name) => !read.has(name))).toEqual([]);
      const shown = new Set(netloomNames(readFileSync(join(REPO_ROOT, 'deploy', 'systemd', `${app}.env`), 'utf8')));
      expect([...read].filter((name) => !shown.has(name) && !notInEnvFile[app].includes(name))).toEqual([]);
    }
    // The check can fail: a misspelt name is not read.
    expect(variablesOf('agent').has('NETLOOM_CONTROLLERS')).toBe(false);
  });
});

describeRoot(`the units' commands run as systemd would run them (agent prefix ${P})`, () => {
  // Made in beforeAll: a run that filters these tests out leaves nothing behind.
  let dir = '';
  let state = '';
  const nobody = { uid: Number(execFileSync('id', ['-u', 'nobody']).toString()), gid: Number(execFileSync('id', ['-g', 'nobody']).toString()) };
  const services: Service[] = [];
  let url = '';
  let token = '';
  let ca = '';
  const gql = async <T>(query: string, variables: Record<string, unknown> = {}): Promise<T> => {
    const result = await httpsGql(url, token, query, variables, ca);
    if (result.errors) throw new Error(`GraphQL errors: ${JSON.stringify(result.errors)}`);
    return result.data as T;
  };

  beforeAll(async () => {
    await waitForDist();
    dir = mkdtempSync(join(tmpdir(), 'netloom-deploy-'));
    state = join(dir, 'state');
    chmodSync(dir, 0o755);
    makeCa(dir, 'ca');
    makeServerCert(dir, 'ca');
    ca = readFileSync(join(dir, 'ca.crt'), 'utf8');
    mkdirSync(state, { mode: 0o755 });
  });

  afterAll(async () => {
    for (const service of services) await service.stop();
    await cleanupKernel(P);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the controller unit starts an HTTPS controller as a user of its own, without capabilities, on its state directory', async () => {
    const unit = unitOf('netloom-controller');
    expect(serviceValue(unit, 'DynamicUser')).toBe('yes');
    expect(serviceValue(unit, 'CapabilityBoundingSet')).toBe('');
    // systemd copies each LoadCredential= source into the credentials directory, readable by the service's user.
    const credentials = join(dir, 'credentials');
    mkdirSync(credentials);
    const made: Record<string, string> = { '/etc/netloom/tls/controller.crt': 'server.crt', '/etc/netloom/tls/controller.key': 'server.key' };
    for (const entry of values(unit, 'Service', 'LoadCredential')) {
      const [id, source] = entry.split(':');
      expect(Object.keys(made)).toContain(source);
      copyFileSync(join(dir, made[source]), join(credentials, id));
      chownSync(join(credentials, id), nobody.uid, nobody.gid);
      chmodSync(join(credentials, id), 0o400);
    }
    chownSync(credentials, nobody.uid, nobody.gid);
    chmodSync(credentials, 0o500);
    // StateDirectory=, owned by the service's user.
    const dataDir = join(state, serviceValue(unit, 'StateDirectory')!);
    mkdirSync(dataDir, { mode: 0o700 });
    chownSync(dataDir, nobody.uid, nobody.gid);
    const envFile = join(UNITS, basename(values(unit, 'Service', 'EnvironmentFile')[0]));
    expect(environmentFile(readFileSync(envFile, 'utf8'))).toMatchObject({ NETLOOM_HOST: '0.0.0.0', NETLOOM_PORT: expect.any(String) });
    const port = await freePort();
    // The checkout may sit where nobody cannot reach it (/root): the controller sees it at an
    // install path of its own, bound in a mount namespace of its own (as systemd's ProtectSystem
    // gives it one anyway).
    const install = join(dir, 'opt-netloom');
    mkdirSync(install);
    const run = serviceRun(unit, {
      specifiers: { d: credentials, S: state },
      envFile,
      overrides: { NETLOOM_PORT: String(port) },
      rewrite: (word) => word.replace(NODE, process.execPath).replace(INSTALL, install),
      user: nobody,
    });
    const bound = ['unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c', 'mount --bind "$1" "$2" && shift 2 && exec "$@"', 'sh', REPO_ROOT, install];
    const controller = new Service('the controller', { ...run, argv: [...bound, ...run.argv] });
    services.push(controller);
    // It listens on 0.0.0.0, which it refuses in plain HTTP: so TLS came from the credentials.
    expect(await controller.waitFor(/^\[stdout\] NETLOOM_URL=/)).toBe(`[stdout] NETLOOM_URL=https://0.0.0.0:${port}/graphql`);
    token = (await controller.waitFor(/^\[stdout\] NETLOOM_ADMIN_TOKEN=/)).split('=')[1];
    url = `https://127.0.0.1:${port}/graphql`;
    expect(effectiveCapabilities(controller.child.pid!)).toBe(0n);
    expect(statSync(join(dataDir, 'netloom.sqlite')).uid).toBe(nobody.uid);
    const ready = await new Promise<number>((done, fail) => {
      httpsRequest(`https://127.0.0.1:${port}/readyz`, { ca }, (res) => {
        res.resume();
        done(res.statusCode ?? 0);
      })
        .on('error', fail)
        .end();
    });
    expect(ready).toBe(200);
  });

  it('the agent unit, bounded to its capabilities, joins with its token file, applies ports, a router and a firewall, and --cleanup removes them', async () => {
    expect(url).not.toBe('');
    const unit = unitOf('netloom-agent');
    const host = await gql<{ createHost: { host: { id: string }; joinToken: string } }>(
      'mutation($input: CreateHostInput!) { createHost(input: $input) { host { id } joinToken } }',
      { input: { name: `${P}-host`, vtepAddress: '192.0.2.77' } },
    );
    const tokenFile = join(dir, 'join-token');
    writeFileSync(tokenFile, `${host.createHost.joinToken}\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'agent-ca.crt'), ca);
    const stateDir = join(state, serviceValue(unit, 'StateDirectory')!);
    mkdirSync(stateDir, { mode: 0o700 });
    const envFile = join(UNITS, basename(values(unit, 'Service', 'EnvironmentFile')[0]));
    const overrides = { NETLOOM_CONTROLLER: url.replace(/\/graphql$/, ''), NETLOOM_CA: join(dir, 'agent-ca.crt'), NETLOOM_JOIN_TOKEN_FILE: tokenFile };
    // The example sets each of these: the test replaces settings, it does not add them.
    expect(Object.keys(environmentFile(readFileSync(envFile, 'utf8')))).toEqual(expect.arrayContaining(Object.keys(overrides)));
    const command = serviceRun(unit, { specifiers: { S: state }, envFile, overrides: { ...overrides, NETLOOM_PREFIX: P }, rewrite, user: nobody });
    expect(command.env.NETLOOM_STATE_DIR).toBe(stateDir);
    const agent = new Service('the agent', command);
    services.push(agent);
    await agent.waitFor(/joined as host/);
    const kept = capabilities(serviceValue(unit, 'CapabilityBoundingSet')!);
    expect(effectiveCapabilities(agent.child.pid!)).toBe(kept.reduce((mask, name) => mask | (1n << BigInt(CAPABILITY_BITS[name])), 0n));

    const network = await gql<{ createNetwork: { id: string } }>('mutation($input: CreateNetworkInput!) { createNetwork(input: $input, wait: true) { id } }', { input: { name: `${P}-net` } });
    const networkId = network.createNetwork.id;
    const subnet = await gql<{ createSubnet: { id: string; gatewayIp: string } }>(
      'mutation($input: CreateSubnetInput!) { createSubnet(input: $input, wait: true) { id gatewayIp } }',
      { input: { name: `${P}-v4`, networkId, cidr: '10.233.0.0/24' } },
    );
    type PortView = { id: string; fixedIps: { ipAddress: string }[]; status: { state: string; reason: string | null; attributes: { key: string; value: string }[] }[] };
    const port = async (name: string): Promise<PortView & { ns: string; ip: string }> => {
      const made = await gql<{ createPort: PortView }>(
        'mutation($input: CreatePortInput!) { createPort(input: $input, wait: true) { id fixedIps { ipAddress } status { state reason attributes { key value } } } }',
        { input: { name: `${P}-${name}`, networkId, hostId: host.createHost.host.id } },
      );
      const p = made.createPort;
      expect(p.status).toEqual([expect.objectContaining({ state: 'APPLIED', reason: null })]);
      return { ...p, ns: p.status[0].attributes.find((a) => a.key === 'netns')!.value, ip: p.fixedIps[0].ipAddress };
    };
    const a = await port('a');
    const b = await port('b');
    expect(await ping(a.ns, b.ip)).toBe(true);

    // A plugin's namespace with a sysctl written inside (forwarding) and its nftables table: a router holding the gateway.
    const router = await gql<{ createRouter: { status: { state: string; reason: string | null }[] } }>(
      'mutation($input: CreateRouterInput!) { createRouter(input: $input, wait: true) { status { state reason } } }',
      { input: { name: `${P}-router`, hostId: host.createHost.host.id, interfaces: [{ subnetId: subnet.createSubnet.id }] } },
    );
    expect(router.createRouter.status).toEqual([{ state: 'APPLIED', reason: null }]);
    expect(await ping(a.ns, subnet.createSubnet.gatewayIp)).toBe(true);

    // The firewall's table in the agent's (host) namespace: ICMP to b dropped; --cleanup removes it (leftovers lists the agent's tables).
    const policy = await gql<{ createFirewallPolicy: { status: { state: string }[] } }>(
      'mutation($input: CreateFirewallPolicyInput!) { createFirewallPolicy(input: $input, wait: true) { status { state } } }',
      {
        input: {
          name: `${P}-no-ping`,
          selector: { portIds: [b.id] },
          ingressDefault: 'ALLOW',
          rules: [{ priority: 10, direction: 'INGRESS', protocol: 'ICMP', ports: [], remoteCidrs: [], remoteGroupIds: [], action: 'DROP' }],
        },
      },
    );
    expect(policy.createFirewallPolicy.status).toEqual([{ state: 'APPLIED' }]);
    expect(await ping(a.ns, b.ip)).toBe(false);
    expect(await ping(b.ns, a.ip)).toBe(true);

    // systemctl stop: the data plane stays; then the README's clean-up, with the same bound.
    expect(await agent.stop()).toBe(0);
    expect(await ping(b.ns, a.ip)).toBe(true);
    const cleanup = new Service('the agent --cleanup', { ...command, argv: [...command.argv, '--cleanup'] });
    services.push(cleanup);
    expect(await cleanup.exited).toBe(0);
    expect(await leftovers(P)).toEqual([]);
    expect((await run('ip', ['netns', 'list'])).stdout).not.toContain(a.ns);
  });
});
