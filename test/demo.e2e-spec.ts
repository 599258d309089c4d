/**
 * The demo (`npm start`) as a user runs it, from dist/: every proof it prints says OK, its topology
 * file (examples/demo.yaml) diffs clean and takes an edit through the CLI, the README's walk-through
 * file applies beside it (real agents), and Ctrl-C
 * cleans up even when its stdout is a pipe that has closed (`npm start | tee log`, then Ctrl-C
 * ends tee first). The test reads the demo's stdout up to the "Press Ctrl-C" line, closes its end
 * of the pipe, sends SIGINT twice to the demo by pid (npm forwards Ctrl-C to a child that got it
 * already), and checks that nothing of the run is left: namespaces and links with its prefix, the
 * processes the demo started (controller, agents, servers), its data folder.
 *
 * The run has its own prefix, port and data folder (NETLOOM_DEMO_PREFIX, NETLOOM_PORT,
 * NETLOOM_DEMO_DIR), so it never meets a real demo; whatever is left goes in afterAll.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { dist, OutputLines, SimulatedHosts } from '@netloom/simhosts';
import { freePort, links, netnsList, waitForDist } from './support/agent';
import { runCli } from './support/cli';
import { runPrefix } from './support/plugin-e2e';

const describeRoot = process.getuid?.() === 0 ? describe : describe.skip;
jest.setTimeout(240_000);

/** This run's prefix: 'd' + 3 random [a-z0-9]. */
const P = runPrefix('d');
const DEMO = dist('apps/demo/src/main.js');

/** The parent pid of each live process (zombies included: their parents have not reaped them yet). */
function parents(): Map<number, number> {
  const out = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    out.set(Number(entry), Number(fields[1]));
  }
  return out;
}

/** Every process below `pid`, children and their children. */
function descendants(pid: number): number[] {
  const tree = parents();
  const found: number[] = [];
  const below = (p: number): void => {
    for (const [child, parent] of tree) {
      if (parent === p) {
        found.push(child);
        below(child);
      }
    }
  };
  below(pid);
  return found;
}

/** Which of `pids` still run (a zombie counts as gone). */
function stillRunning(pids: number[]): number[] {
  return pids.filter((pid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return !/^[ZX]$/.test(stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3));
    } catch {
      return false;
    }
  });
}

describeRoot(`the demo from dist/ (prefix ${P})`, () => {
  let dataDir = '';
  let demo: ChildProcess | undefined;
  let started: number[] = [];

  afterAll(async () => {
    if (demo?.pid !== undefined && demo.exitCode === null && demo.signalCode === null) process.kill(demo.pid, 'SIGKILL');
    for (const pid of stillRunning(started)) process.kill(pid, 'SIGKILL');
    await SimulatedHosts.removeStale(P);
    if (dataDir) rmSync(dirname(dataDir), { recursive: true, force: true });
  });

  it('proves each part with packets, then Ctrl-C removes everything although its stdout pipe has closed', async () => {
    await waitForDist();
    dataDir = join(mkdtempSync(join(tmpdir(), `netloom-demo-${P}-`)), 'data');
    const port = await freePort();
    const child = spawn(process.execPath, [DEMO], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NETLOOM_DEMO_PREFIX: P, NETLOOM_PORT: String(port), NETLOOM_DEMO_DIR: dataDir },
    });
    demo = child;
    const pid = child.pid!;
    const stdout = new OutputLines();
    const stderr = new OutputLines();
    createInterface({ input: child.stdout }).on('line', (line) => stdout.push(line));
    createInterface({ input: child.stderr }).on('line', (line) => stderr.push(line));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => child.once('exit', (code, signal) => done({ code, signal })));

    await stdout.waitFor(/^Press Ctrl-C/, 180_000, 0, 'the demo').catch((error: Error) => {
      throw new Error(`${error.message}\nstderr:\n${stderr.lines.join('\n')}`);
    });
    const proofs = stdout.lines.filter((l) => /^Proof \d+, /.test(l));
    expect(proofs.map((l) => /: (OK|FAILED) \([\d.]+ m?s\)$/.exec(l)?.[1] ?? l)).toEqual(Array(6).fill('OK'));
    expect(stdout.lines).toContain(`  GraphQL IDE, in a browser (enter the token once): http://127.0.0.1:${port}/graphql`);
    expect(stdout.lines).toContain(`  Topology page, in a browser:                     http://127.0.0.1:${port}/ui`);
    process.stderr.write(`demo output:\n${stdout.lines.join('\n')}\n`);

    // The topology is the file examples/demo.yaml, which the user edits and applies again with the
    // CLI (here a copy naming this run's hosts): first nothing to do, then an edit diffed and applied.
    const token = /^Admin token \(shown once\): (\S+)$/.exec(stdout.lines.find((l) => l.startsWith('Admin token')) ?? '')![1];
    const file = join(dirname(dataDir), 'demo.yaml');
    writeFileSync(file, readFileSync(resolve(__dirname, '../examples/demo.yaml'), 'utf8').replace(/\bdmo-h(\d)\b/g, `${P}-h$1`));
    const env = { NETLOOM_URL: `http://127.0.0.1:${port}/graphql`, NETLOOM_TOKEN: token };
    const config = join(dirname(dataDir), 'contexts.yaml');
    expect(await runCli(config, ['diff', '-f', file], env)).toEqual({ code: 0, stdout: 'No changes: the API already matches the file.\n', stderr: '' });
    writeFileSync(file, readFileSync(file, 'utf8').replace('algorithm: ROUND_ROBIN', 'algorithm: SOURCE_IP'));
    const diff = await runCli(config, ['diff', '-f', file], env);
    expect([diff.code, diff.stdout]).toEqual([1, expect.stringMatching(/^~ LoadBalancer web\n {4}listeners: .*ROUND_ROBIN.* → .*SOURCE_IP.*\n0 to create, 1 to change, 0 to delete\.\n$/)]);
    const applied = await runCli(config, ['apply', '-f', file, '--wait'], env);
    expect([applied.code, applied.stderr, applied.stdout]).toEqual([0, '', expect.stringMatching(/^LoadBalancer web changed \(listeners\)\n[\s\S]*Applied: 0 created, 1 changed, 0 deleted\.\n$/)]);
    // The README's walk-through file goes beside it, on the same hosts with their real agents.
    const walkthrough = join(dirname(dataDir), 'lab.yaml');
    writeFileSync(walkthrough, readFileSync(resolve(__dirname, '../examples/topology.yaml'), 'utf8').replace(/\bdmo-h(\d)\b/g, `${P}-h$1`));
    const lab = await runCli(config, ['apply', '-f', walkthrough, '--wait'], env);
    expect([lab.code, lab.stderr, lab.stdout.split('\n').filter((l) => /^\s/.test(l) && !/\s(APPLIED|joinToken)/.test(l))]).toEqual([0, '', []]);
    expect(lab.stdout).toContain('Applied: 8 created, 0 changed, 0 deleted.');

    // What the demo made: its namespaces, and the processes it started (controller, agents, servers).
    expect((await netnsList()).filter((n) => n.startsWith(`${P}-`)).length).toBeGreaterThanOrEqual(4 + 6);
    started = descendants(pid);
    expect(started.length).toBeGreaterThanOrEqual(1 + 3 + 4);

    // The reader goes away, as tee does on Ctrl-C: the demo's next write to stdout fails.
    const closed = new Promise((done) => child.stdout.once('close', done));
    child.stdout.destroy();
    await closed;
    process.kill(pid, 'SIGINT');
    await stderr.waitFor(/^stdout failed \(EPIPE\)/, 10_000, 0, 'the demo');
    process.kill(pid, 'SIGINT');
    await stderr.waitFor(/^Still cleaning up/, 10_000, 0, 'the demo');

    expect(await exited).toEqual({ code: 0, signal: null });
    expect(stderr.lines.filter((l) => !/^(stdout failed \(EPIPE\)|Still cleaning up)/.test(l))).toEqual([]);
    expect((await netnsList()).filter((n) => n.startsWith(`${P}-`))).toEqual([]);
    expect((await links()).map((l) => l.ifname).filter((name) => name.startsWith(P))).toEqual([]);
    expect(stillRunning(started)).toEqual([]);
    expect(existsSync(dataDir)).toBe(false);
  });
});
