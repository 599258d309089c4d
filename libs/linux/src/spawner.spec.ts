import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommandRunner, LinuxCommandError } from './runner';
import { Spawner } from './spawner';

// The helper that starts commands: the same answers a direct start gives (output, exit code,
// stdin, environment, pid), and failures reported, never thrown or left hanging.
describe.each([
  ['Python', true],
  ['Node', false],
])('Spawner (its %s helper)', (_name, python) => {
  const spawner = new Spawner({ python });
  const env: NodeJS.ProcessEnv = { ...process.env, LC_ALL: 'C' };
  const sh = (script: string, input = '', timeoutMs = 10_000, onSpawn?: (pid: number) => void) => spawner.run('sh', ['-c', script], input, env, timeoutMs, onSpawn);

  it('returns what a command printed, its exit code, and feeds it its input', async () => {
    expect(await sh('read x; echo "got $x"; echo oops >&2; exit 3', 'hello\n')).toEqual({ stdout: 'got hello\n', stderr: 'oops\n', exitCode: 3 });
    // Arguments are passed as they are, no shell in between.
    expect((await spawner.run('printf', ['%s|', 'a b', '$HOME', ';'], '', env, 10_000)).stdout).toBe('a b|$HOME|;|');
  });

  it('runs commands side by side, each answered on its own', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => sh(`sleep 0.0${i % 5}; echo ${i}`)));
    expect(results.map((r) => r.stdout)).toEqual(Array.from({ length: 20 }, (_, i) => `${i}\n`));
  });

  it('tells the pid of the command as soon as it runs', async () => {
    let pid: number | undefined;
    const result = await sh('echo $$', '', 10_000, (p) => (pid = p));
    expect(pid).toBe(Number(result.stdout.trim()));
  });

  it('uses the environment given with each command (PATH included)', async () => {
    const bin = mkdtempSync(join(tmpdir(), 'netloom-spawner-'));
    try {
      writeFileSync(join(bin, 'nft'), '#!/bin/sh\necho fake nft\n');
      chmodSync(join(bin, 'nft'), 0o755);
      expect((await spawner.run('nft', ['--version'], '', { ...env, PATH: `${bin}:${env.PATH}` }, 10_000)).stdout).toBe('fake nft\n');
      expect((await sh('echo $NETLOOM_SPAWNER_TEST', '', 10_000)).stdout).toBe('\n');
      expect((await spawner.run('sh', ['-c', 'echo $NETLOOM_SPAWNER_TEST'], '', { ...env, NETLOOM_SPAWNER_TEST: 'x' }, 10_000)).stdout).toBe('x\n');
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });

  it('reports a command that cannot start, and one past its timeout (killed)', async () => {
    expect((await spawner.run('netloom-no-such-command', [], '', env, 10_000)).error).toMatch(/ENOENT/);
    const started = Date.now();
    const slow = await sh('sleep 5', '', 200);
    expect(slow.error).toMatch(/timed out/);
    expect(Date.now() - started).toBeLessThan(4_000);
  });

  it('answers what was out when the helper dies, and starts a new one for what follows', async () => {
    const [killer, bystander] = await Promise.all([sh('sleep 0.2; kill -9 $PPID; sleep 5'), sh('sleep 5')]);
    expect(killer.error).toMatch(/helper ended/);
    expect(bystander.error).toMatch(/helper ended/);
    expect(await sh('echo again')).toMatchObject({ stdout: 'again\n', exitCode: 0 });
  });
});

describe('CommandRunner through the helper', () => {
  it('throws a LinuxCommandError for a failed command (unless told not to) and logs every command', async () => {
    const runner = new CommandRunner();
    const failed = await runner.run('ip', ['link', 'show', 'dev', 'netloom-none0'], { mutating: false, reject: false });
    expect(failed.exitCode).not.toBe(0);
    expect(failed.stderr).toMatch(/netloom-none0/);
    await expect(runner.run('ip', ['link', 'show', 'dev', 'netloom-none0'], { mutating: false })).rejects.toBeInstanceOf(LinuxCommandError);
    expect((await runner.run('ip', ['-V'], { mutating: false })).stdout).toMatch(/iproute2/);
    expect(runner.log.map((l) => [l.command, l.exitCode])).toEqual([
      ['ip', failed.exitCode],
      ['ip', failed.exitCode],
      ['ip', 0],
    ]);
  });
});
