import { ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { ExecResult, freePort, waitFor, waitForDist } from './support/agent';
import { dist } from './support/paths';

// The built binaries' command lines, configuration file and JSON logs (issue 16).
jest.setTimeout(60_000);

const CONTROLLER = dist('apps/controller/src/main.js');
const AGENT = dist('apps/agent/src/main.js');

/** This process's environment without NETLOOM_* settings: the test says everything. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('NETLOOM_')));
  return { ...env, ...extra };
}

function runNode(args: string[], env: NodeJS.ProcessEnv = cleanEnv()): Promise<ExecResult> {
  return new Promise((done) => {
    execFile(process.execPath, args, { env, timeout: 30_000 }, (error, stdout, stderr) => {
      done({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** A started binary whose stdout and stderr lines are kept. */
class Started {
  readonly stdout: string[] = [];
  readonly stderr: string[] = [];
  readonly child: ChildProcess;

  constructor(args: string[], env: NodeJS.ProcessEnv) {
    this.child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    createInterface({ input: this.child.stdout! }).on('line', (line) => this.stdout.push(line));
    createInterface({ input: this.child.stderr! }).on('line', (line) => this.stderr.push(line));
  }

  /** Every stderr line as JSON (a line that is not JSON fails the test). */
  logLines(): Record<string, unknown>[] {
    return this.stderr.map((line) => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        throw new Error(`a stderr line is not JSON: ${line}`);
      }
    });
  }

  async stop(): Promise<void> {
    const { child } = this;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((done) => child.once('exit', done));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }
}

let dir = '';
const started: Started[] = [];
const start = (args: string[], env: NodeJS.ProcessEnv = cleanEnv()): Started => {
  const s = new Started(args, env);
  started.push(s);
  return s;
};

beforeAll(async () => {
  await waitForDist();
  dir = mkdtempSync(join(tmpdir(), 'netloom-e2e-cli-'));
});
afterAll(async () => {
  await Promise.all(started.map((s) => s.stop()));
  rmSync(dir, { recursive: true, force: true });
});

describe('--help and --version', () => {
  it.each([
    ['controller', CONTROLLER, ['--port <PORT>', 'NETLOOM_PORT', '--data-dir <DIR>', '--tls-cert <FILE>', '--max-query-depth <N>', '--log-level <LEVEL>']],
    ['agent', AGENT, ['--controller <URL>', 'NETLOOM_CONTROLLER', '--join-token-file <FILE>', 'NETLOOM_PREFIX', '--metrics-address <HOST:PORT>', 'NETLOOM_METRICS_ADDRESS']],
  ])('the %s lists its options with their variables and defaults, and exits 0', async (_name, main, expected) => {
    const help = await runNode([main, '--help']);
    expect(help).toMatchObject({ code: 0, stderr: '' });
    for (const text of [...expected, '--config <FILE>', 'NETLOOM_CONFIG', 'NETLOOM_LOG_LEVEL', 'default: info']) expect(help.stdout).toContain(text);
    expect(await runNode([main, '--version'])).toEqual({ code: 0, stdout: '0.1.0\n', stderr: '' });
  });
});

describe('a bad option', () => {
  it.each([
    ['controller', ['--port', 'eighty'], 'netloom-controller: --port: must be a whole number (0 or more), got "eighty"'],
    ['controller', ['--bogus'], "netloom-controller: unknown option '--bogus' (see --help)"],
    ['controller', ['--host', '0.0.0.0'], 'netloom-controller: refusing to serve plain HTTP on 0.0.0.0'],
    ['agent', ['--metrics-address', 'nowhere'], 'netloom-agent: --metrics-address: expected HOST:PORT'],
    ['agent', ['--resync-ms', '5'], 'netloom-agent: --resync-ms: must be a whole number ≥ 100, got "5"'],
    ['agent', ['--prefix', 'BAD'], 'netloom-agent: --prefix: invalid prefix "BAD"'],
  ])('the %s given %j exits 1 with one line naming it', async (name, args, line) => {
    const result = await runNode([name === 'agent' ? AGENT : CONTROLLER, ...args]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr.split('\n').filter(Boolean)).toEqual([expect.stringContaining(line)]);
    expect(result.stderr.startsWith(line)).toBe(true);
  });

  it('in the environment or the config file is named as it was given', async () => {
    const env = await runNode([CONTROLLER], cleanEnv({ NETLOOM_QUERY_TIMEOUT_MS: 'soon' }));
    expect(env.code).toBe(1);
    expect(env.stderr).toBe('netloom-controller: NETLOOM_QUERY_TIMEOUT_MS: must be a whole number (0 or more), got "soon"\n');
    const file = join(dir, 'typo.yaml');
    writeFileSync(file, 'prot: 8080\n');
    const typo = await runNode([CONTROLLER, '--config', file]);
    expect(typo.code).toBe(1);
    expect(typo.stderr).toMatch(/^netloom-controller: --config: .*typo\.yaml: unknown option prot; known: dataDir, /);
  });
});

describe('a controller started with --config', () => {
  it('listens on the file’s port, logs JSON lines, and every request’s lines carry its request id', async () => {
    const port = await freePort();
    const file = join(dir, 'controller.yaml');
    writeFileSync(file, `# what an operator would write\nport: ${port}\nhost: 127.0.0.1\ndataDir: ${join(dir, 'data')}\nlogLevel: info\n`);
    const c = start([CONTROLLER, '--config', file]);
    const url = await waitFor(() => c.stdout.find((line) => line.startsWith('NETLOOM_URL='))?.slice('NETLOOM_URL='.length), 30_000, 50, 'NETLOOM_URL');
    expect(url).toBe(`http://127.0.0.1:${port}/graphql`);
    const token = await waitFor(() => c.stdout.find((line) => line.startsWith('NETLOOM_ADMIN_TOKEN='))?.split('=')[1], 5_000, 50, 'the admin token');

    const listening = await waitFor(() => c.logLines().find((line) => /listening/.test(String(line.msg))), 10_000, 50, 'the listening line');
    expect(listening).toMatchObject({ level: 'info', name: 'netloom-controller', url, msg: expect.stringContaining(`NetLoom controller listening on ${url}`) });
    const browser = await waitFor(() => c.logLines().find((line) => /In a browser/.test(String(line.msg))), 5_000, 50, 'the browser URLs line');
    expect(browser).toMatchObject({ level: 'info', ide: url, ui: `http://127.0.0.1:${port}/ui` });

    const gql = async (query: string, requestId?: string) => {
      const headers: Record<string, string> = { 'content-type': 'application/json', authorization: `Bearer ${token}` };
      if (requestId) headers['x-request-id'] = requestId;
      const response = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ query }) });
      return { id: response.headers.get('x-request-id'), body: (await response.json()) as { errors?: { extensions: { code: string } }[] } };
    };
    // An incoming id is kept and sent back; the completion line carries it.
    const given = `e2e-${process.pid}-${Date.now()}`;
    expect((await gql('{ revision }', given)).id).toBe(given);
    const done = await waitFor(() => c.logLines().find((line) => line.reqId === given), 5_000, 50, 'the request line');
    expect(done).toMatchObject({ level: 'info', req: { method: 'POST', path: '/graphql' }, res: { statusCode: 200 }, msg: expect.stringMatching(/^POST \/graphql 200 in \d+ ms$/) });

    // Without one, an id is made; a GraphQL error is logged once, with its code and that id.
    const bad = await gql('mutation { createNetwork(input: { name: "no spaces allowed" }) { id } }');
    expect(bad.body.errors?.[0].extensions.code).toBe('BAD_USER_INPUT');
    expect(bad.id).toMatch(/^[0-9a-f-]{36}$/);
    await waitFor(() => c.logLines().filter((line) => line.reqId === bad.id).length >= 2, 5_000, 50, 'the bad request’s lines');
    const lines = c.logLines().filter((line) => line.reqId === bad.id);
    expect(lines.filter((line) => line.code === 'BAD_USER_INPUT')).toEqual([
      expect.objectContaining({ level: 'info', context: 'GraphQL', path: 'createNetwork', msg: expect.stringContaining('GraphQL BAD_USER_INPUT: ') }),
    ]);
    // Nothing logged at error level, and no header (the token) in any line.
    expect(c.logLines().filter((line) => line.level === 'error')).toEqual([]);
    expect(c.stderr.join('\n')).not.toContain(token);
    await c.stop();
  });
});

describe('an agent', () => {
  it('logs JSON lines at their level, the flag winning over the environment', async () => {
    const state = join(dir, 'agent-state');
    // Nothing listens on the controller's port: the agent says so and retries.
    const port = await freePort();
    const a = start([AGENT, '--controller', `http://127.0.0.1:${port}`, '--state-dir', state, '--prefix', 'clq', '--log-level', 'info'], cleanEnv({ NETLOOM_JOIN_TOKEN: 'nlj_x', NETLOOM_LOG_LEVEL: 'error' }));
    const retrying = await waitFor(() => a.logLines().find((line) => /retrying in \d+ ms/.test(String(line.msg))), 15_000, 50, 'a retrying line');
    expect(retrying).toMatchObject({ level: 'warn', name: 'netloom-agent', time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
    await a.stop();
  });
});
