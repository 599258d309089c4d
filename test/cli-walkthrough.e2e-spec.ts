/**
 * The README's walk-through, run as written: each line of its shell block (login with a token
 * file, apply of examples/topology.yaml copied as the README says, get, describe, watch, the edit,
 * diff, re-apply, audit) with the built CLI, against a built controller whose hosts are named like
 * the demo's (fake agents ack what they are sent) and which has the demo's "outside" network.
 * Then the README's raw GraphQL requests, as curl would send them.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { FakeAgent } from '@netloom/simhosts';
import { baseUrl } from './support/agent';
import { runCli, startWatch } from './support/cli';
import { createHost, createNetwork, createSubnet, useController } from './support/fixtures';

jest.setTimeout(180_000);

const ROOT = resolve(__dirname, '..');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

/** The lines of the first ```sh block after `heading`, comments and blank lines left out. */
function shellLines(heading: string): string[] {
  const at = README.indexOf(heading);
  expect(at).toBeGreaterThanOrEqual(0);
  const block = /```sh\n([\s\S]*?)```/.exec(README.slice(at))![1];
  return block
    .split('\n')
    .map((line) => line.replace(/\s+# .*$/, '').trim())
    .filter(Boolean);
}

describe("the README's walk-through with the CLI", () => {
  const ctl = useController();
  const dir = mkdtempSync(join(tmpdir(), 'netloom-walkthrough-e2e-'));
  const config = join(dir, 'config.yaml');
  const tokenFile = join(dir, 'netloom-token');
  const agents: FakeAgent[] = [];

  beforeAll(async () => {
    const c = ctl();
    for (const [i, name] of ['dmo-h0', 'dmo-h1', 'dmo-h2'].entries()) {
      const host = await createHost(c, name, `192.0.2.${81 + i}`);
      const agent = await FakeAgent.join(baseUrl(c.url), host.joinToken);
      agents.push(agent);
      await agent.connect();
    }
    const outside = await createNetwork(c, { name: 'outside' });
    await createSubnet(c, outside.id, '203.0.113.0/24');
  });

  afterAll(async () => {
    for (const agent of agents) await agent.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs every line of the walk-through: apply, look, watch, edit, diff, re-apply, audit', async () => {
    const lines = shellLines('## A walk-through with the CLI');
    const file = join(dir, 'lab.yaml');
    const outputs: { line: string; stdout: string }[] = [];
    let watch: Awaited<ReturnType<typeof startWatch>> | undefined;
    try {
      for (const line of lines) {
        if (line === 'npm link') continue; // the test runs dist/apps/cli/src/main.js, the package's bin
        if (line.startsWith('(umask 077; echo ')) {
          writeFileSync(tokenFile, `${ctl().adminToken}\n`, { mode: 0o600 });
          continue;
        }
        if (line === 'cp examples/topology.yaml lab.yaml') {
          copyFileSync(join(ROOT, 'examples/topology.yaml'), file);
          continue;
        }
        const sed = /^sed -i 's\/(.+)\/(.*)\/' lab\.yaml$/.exec(line);
        if (sed) {
          const text = readFileSync(file, 'utf8');
          expect(text).toContain(sed[1]);
          writeFileSync(file, text.replace(sed[1], sed[2]));
          continue;
        }
        expect(line).toMatch(/^netloom /);
        const args = line
          .split(/\s+/)
          .slice(1)
          .map((word) => (word === 'lab.yaml' ? file : word === '~/.netloom-token' ? tokenFile : word === 'http://127.0.0.1:8080/graphql' ? ctl().url : word));
        if (args[0] === 'watch') {
          watch = await startWatch(config, args.slice(1));
          continue;
        }
        const run = await runCli(config, args);
        // diff exits 1 when the file and the API differ, as every diff of the walk-through shows.
        expect({ line, code: run.code, stderr: run.stderr }).toEqual({ line, code: args[0] === 'diff' ? 1 : 0, stderr: '' });
        outputs.push({ line, stdout: run.stdout });
      }
      const out = (start: string, nth = 0): string => outputs.filter((o) => o.line.startsWith(start))[nth].stdout;
      const row = (table: string, name: string): string[] | undefined =>
        table
          .split('\n')
          .map((l) => l.split(/ {3,}/))
          .find((cells) => cells[0] === name);

      expect(out('netloom login')).toMatch(/as bootstrap-admin \(ADMIN\); context "demo" is current/);
      for (const host of ['dmo-h0', 'dmo-h1', 'dmo-h2']) expect(row(out('netloom get hosts'), host)?.[2]).toBe('CONNECTED');
      const firstDiff = out('netloom diff');
      for (const made of ['Network green', 'Subnet green-v4', 'Port app-0', 'Port client', 'Router green-gw', 'LoadBalancer app', 'FirewallPolicy app-in']) {
        expect(firstDiff).toContain(`+ ${made}\n`);
      }
      expect(firstDiff).toContain('    externalNetwork: outside\n');
      expect(firstDiff.trim().split('\n').pop()).toBe('8 to create, 0 to change, 0 to delete.');
      expect(out('netloom apply', 0)).toContain('Applied: 8 created');
      const ports = out('netloom get ports -l tier=app');
      expect([row(ports, 'app-0')?.slice(1, 3), row(ports, 'app-1')?.slice(1, 3), row(ports, 'client')]).toEqual([['green', 'dmo-h0'], ['green', 'dmo-h1'], undefined]);
      expect(ports).toContain('1/1 APPLIED');
      expect(out('netloom describe load-balancer app')).toMatch(/10\.70\.0\.100/);
      expect(out('netloom diff', 1)).toBe('~ Network green\n    mtu: 1400 → 1300\n0 to create, 1 to change, 0 to delete.\n');
      expect(out('netloom apply', 1)).toMatch(/^Network green changed \(mtu\)\n(\s+dmo-h\d\s+APPLIED\n){3}Applied: 0 created, 1 changed, 0 deleted\.\n$/);
      expect(out('netloom apply', 2)).toBe('Nothing changed: the API already matches the file.\n');
      const audit = out('netloom audit network green --diff');
      expect(audit).toMatch(/ bootstrap-admin \(ADMIN\) {2}UPDATE Network green {2}by updateNetwork\n {4}~ generation: 1 → 2\n {4}~ updatedAt: \S+ → \S+\n {4}~ mtu: 1400 → 1300\n/);
      expect(audit).toMatch(/CREATE Network green {2}by createNetwork\n/);
      const recent = out('netloom audit --since 10m -o wide');
      expect(recent.split('\n')[0]).toMatch(/MUTATION\s+OBJECT ID$/);
      const kinds = new Set(recent.trim().split('\n').slice(1).map((l) => l.split(/ {3,}/)[4]));
      expect([...kinds].sort()).toEqual(['FirewallPolicy', 'Host', 'LoadBalancer', 'Network', 'Port', 'Router', 'Subnet']);
      expect(watch?.stdout()).toMatch(/UPDATE\s+Network\s+green\s+generation 2/);
    } finally {
      await watch?.stop();
    }
  });

  it("answers the README's raw GraphQL requests without errors", async () => {
    const requests = shellLines('## Raw GraphQL').filter((line) => line.startsWith("gql '"));
    expect(requests.length).toBeGreaterThanOrEqual(3);
    for (const line of requests) {
      const body = /^gql '(.*)'$/.exec(line)![1];
      const answer = (await (
        await fetch(ctl().url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${ctl().adminToken}` }, body })
      ).json()) as { data?: unknown; errors?: unknown[] };
      expect({ line, errors: answer.errors }).toEqual({ line, errors: undefined });
      expect(answer.data).toBeTruthy();
    }
  });
});
