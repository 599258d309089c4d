import { existsSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CommandRunner, Linux } from '@netloom/linux';
import type { DaemonSpec } from './host-context';
import { createHostContext } from './host-context-impl';
import { agentTestHost, type AgentTestHost } from './testkit-agent';

// Supervised daemons of a plugin on the real kernel, as root: a shell loop plays the daemon (it
// copies its config, logs SIGHUP, exits on demand), run inside a namespace of the plugin.
const describeRoot = process.getuid?.() === 0 ? describe : describe.skip;
const SH = '/bin/sh';

describeRoot('HostContext.daemons on the real kernel', () => {
  jest.setTimeout(30_000);
  let kit: AgentTestHost;
  let netns: string;
  const LOOP = 'cp {config} {dir}/seen; trap "echo hup >> {dir}/hups" HUP; while [ ! -e {dir}/quit ]; do sleep 0.05; done; rm -f {dir}/quit; echo bye >&2; exit 3';
  const spec = (over: Partial<DaemonSpec> = {}): DaemonSpec => ({ name: 'loop', netns, program: SH, args: ['-c', LOOP], config: 'v1', files: { hosts: 'a' }, reloadSignal: 'SIGHUP', ...over });
  const waitFor = async (what: string, ok: () => boolean | Promise<boolean>): Promise<void> => {
    for (const deadline = Date.now() + 10_000; !(await ok()); ) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const inode = (path: string): number => statSync(path).ino;

  beforeAll(async () => {
    kit = await agentTestHost({ pluginId: 'test.daemons', daemonAllow: [SH] });
    netns = kit.host.netnsName('d1');
    await kit.host.apply((c) => c.netnsAdd(netns));
  });
  afterAll(async () => {
    await kit?.destroy();
  });

  it('runs a daemon in its namespace with its config and files written; the same set again changes nothing', async () => {
    const [state] = await kit.host.daemons([spec()]);
    expect(state).toMatchObject({ name: 'loop', running: true, restarts: 0 });
    await waitFor('its copy of the config', () => existsSync(join(state.dir, 'seen')));
    expect(readFileSync(join(state.dir, 'seen'), 'utf8')).toBe('v1');
    expect(readFileSync(join(state.dir, 'hosts'), 'utf8')).toBe('a');
    expect(readlinkSync(`/proc/${state.pid}/ns/net`)).toBe(`net:[${inode(`/run/netns/${netns}`)}]`);
    const [again] = await kit.host.daemons([spec()]);
    expect(again.pid).toBe(state.pid);
  });

  it('signals it when only its files change, and restarts it when its config changes', async () => {
    const [before] = await kit.host.daemons([spec()]);
    const [reloaded] = await kit.host.daemons([spec({ files: { hosts: 'b' } })]);
    expect(reloaded.pid).toBe(before.pid);
    await waitFor('the HUP', () => existsSync(join(before.dir, 'hups')));
    expect(readFileSync(join(before.dir, 'hosts'), 'utf8')).toBe('b');
    const [restarted] = await kit.host.daemons([spec({ files: { hosts: 'b' }, config: 'v2' })]);
    expect(restarted.pid).not.toBe(before.pid);
    expect(restarted.restarts).toBe(1);
    await waitFor('the new config read', () => readFileSync(join(before.dir, 'seen'), 'utf8') === 'v2');
    expect(existsSync(`/proc/${before.pid}`)).toBe(false);
  });

  it('starts it again after it exits by itself, says how it ended, and asks for a reconcile', async () => {
    const current = { ...spec({ files: { hosts: 'b' }, config: 'v2' }) };
    const [state] = await kit.host.daemons([current]);
    kit.reconcileRequests.length = 0;
    await kit.exec(netns, ['touch', join(state.dir, 'quit')]);
    await waitFor('the exit reported', () => kit.reconcileRequests.length > 0);
    expect(kit.reconcileRequests[0]).toBe('daemon loop exited with 3: bye');
    await waitFor('a new process', async () => {
      const [now] = await kit.host.daemons([current]);
      return now.running && now.pid !== state.pid;
    });
    const [now] = await kit.host.daemons([current]);
    expect(now).toMatchObject({ restarts: state.restarts + 1, lastExit: 'exited with 3: bye' });
  });

  it('refuses a program the operator did not allow, a namespace not its own, and bad names, before anything runs', async () => {
    await expect(kit.host.daemons([spec({ program: '/usr/bin/sleep' })])).rejects.toThrow('daemon loop: /usr/bin/sleep is not allowed on this host (the agent\'s --daemon-allow: /bin/sh)');
    await expect(kit.host.daemons([spec({ netns: kit.hostNetns })])).rejects.toThrow(/is not one of this plugin's/);
    await expect(kit.host.daemons([spec({ name: 'Bad Name' })])).rejects.toThrow(/is not 1-32 of/);
    await expect(kit.host.daemons([spec({ files: { '../x': '' } })])).rejects.toThrow(/file name/);
    const [state] = await kit.host.daemons([spec({ files: { hosts: 'b' }, config: 'v2' })]);
    expect(state.running).toBe(true);
  });

  it('stops it when no longer given (its folder goes), and when its namespace is deleted', async () => {
    const [state] = await kit.host.daemons([spec({ files: { hosts: 'b' }, config: 'v2' })]);
    expect(await kit.host.daemons([])).toEqual([]);
    expect(existsSync(`/proc/${state.pid}`)).toBe(false);
    expect(existsSync(state.dir)).toBe(false);
    const [again] = await kit.host.daemons([spec()]);
    await kit.host.apply((c) => c.netnsDel(netns));
    expect(existsSync(`/proc/${again.pid}`)).toBe(false);
    await kit.host.apply((c) => c.netnsAdd(netns));
  });

  it('ends, by its pid file, what a killed agent left running', async () => {
    const [state] = await kit.host.daemons([spec()]);
    // A second context over the same folder stands for the next agent: the first one's daemon is ended.
    const dir = join(state.dir, '..');
    const next = createHostContext({
      linux: new Linux(new CommandRunner()),
      pluginId: 'test.daemons',
      agentPrefix: kit.prefix,
      hostId: 'next-agent',
      hostNetns: kit.hostNetns,
      networkBridges: new Map(),
      daemons: { allow: [SH], runDir: dir },
    });
    await next.daemons([]);
    expect(existsSync(`/proc/${state.pid}`)).toBe(false);
    await next.close();
  });
});
