import { CommandRunner } from '@netloom/linux';
import { RealizationState, ResourceKind, type ResourceStatusReport } from '@netloom/model';
import { AgentMetrics, portDrops, programOf, resourcesByState } from './metrics';
import { DROPPED } from './reconciler';

const port = (id: string, state: RealizationState, dropped?: string): ResourceStatusReport => ({
  kind: ResourceKind.Port,
  id,
  generation: 1,
  state,
  attributes: dropped === undefined ? {} : { [DROPPED]: dropped },
});
const network = (id: string, state: RealizationState): ResourceStatusReport => ({ kind: ResourceKind.Network, id, generation: 1, state });

/** The samples of one metric: labels and value. */
async function samples(metrics: AgentMetrics, name: string): Promise<{ labels: Record<string, string | number>; value: number }[]> {
  const metric = metrics.registry.getSingleMetric(name);
  if (!metric) throw new Error(`no metric ${name}`);
  return (await metric.get()).values.map(({ labels, value }) => ({ labels: labels as Record<string, string | number>, value }));
}

describe('programOf', () => {
  it('names the program a command ran, the one nsenter started included', () => {
    expect(programOf({ command: 'nft', args: ['-f', '-'] })).toBe('nft');
    expect(programOf({ command: 'nsenter', args: ['--net=/run/netns/x', '--', 'ip', '-force', '-batch', '-'] })).toBe('ip');
    expect(programOf({ command: 'nsenter', args: ['--net=/run/netns/x', '--', 'bridge', '-batch', '-'] })).toBe('bridge');
    expect(programOf({ command: 'nsenter', args: ['--net=/run/netns/x', '--', 'tc', '-force', '-batch', '-'] })).toBe('tc');
    // Anything else stays under nsenter: the label's values are bounded.
    expect(programOf({ command: 'nsenter', args: ['--net=/run/netns/x', '--', 'sh'] })).toBe('nsenter');
    expect(programOf({ command: 'nsenter', args: [] })).toBe('nsenter');
  });
});

describe('resourcesByState', () => {
  it('counts each reported kind in each state, zeros included; no kind, no series', () => {
    const statuses = [port('a', RealizationState.APPLIED), port('b', RealizationState.FAILED), port('c', RealizationState.APPLIED), network('n', RealizationState.APPLIED)];
    expect(resourcesByState(statuses)).toEqual([
      { kind: 'Network', state: 'APPLIED', count: 1 },
      { kind: 'Network', state: 'FAILED', count: 0 },
      { kind: 'Port', state: 'APPLIED', count: 2 },
      { kind: 'Port', state: 'FAILED', count: 1 },
    ]);
    expect(resourcesByState([])).toEqual([]);
  });
});

describe('portDrops', () => {
  it('reads the dropped-frames attribute of ports only; a port without it (no port security) or a bad value is left out', () => {
    const other: ResourceStatusReport = { kind: 'Firewall', id: 'f', generation: 1, state: RealizationState.APPLIED, attributes: { [DROPPED]: '9' } };
    expect(portDrops([port('a', RealizationState.APPLIED, '0'), port('b', RealizationState.APPLIED, '17'), port('c', RealizationState.APPLIED), port('d', RealizationState.FAILED, 'x'), other])).toEqual(
      new Map([
        ['a', 0],
        ['b', 17],
      ]),
    );
  });
});

describe('AgentMetrics', () => {
  let connected = false;
  let applied = 0;
  const make = (): AgentMetrics => new AgentMetrics({ connected: () => connected, appliedRevision: () => applied });

  it('counts passes by result and times them; every result is there from the start', async () => {
    const metrics = make();
    expect(await samples(metrics, 'netloom_agent_reconcile_passes_total')).toEqual(
      ['applied', 'failed', 'error'].map((result) => ({ labels: { result }, value: 0 })),
    );
    metrics.passEnded('applied', 0.02);
    metrics.passEnded('applied', 0.03);
    metrics.passEnded('error', 0.5);
    const passes = await samples(metrics, 'netloom_agent_reconcile_passes_total');
    expect(passes.find((s) => s.labels.result === 'applied')?.value).toBe(2);
    expect(passes.find((s) => s.labels.result === 'error')?.value).toBe(1);
    const duration = await samples(metrics, 'netloom_agent_reconcile_pass_duration_seconds');
    expect(duration.find((s) => s.labels.le === 0.025)?.value).toBe(1);
    expect(duration.find((s) => s.labels.le === '+Inf')?.value).toBe(3);
  });

  it('counts the commands the runner logs by program, and the failed ones', async () => {
    const metrics = make();
    const runner = new CommandRunner({ onCommand: (entry) => metrics.commandRan(entry) });
    await runner.run('ip', ['-V'], { mutating: false });
    // Exits non-zero (no such device), read as a result rather than thrown.
    await runner.run('ip', ['link', 'show', 'dev', 'nl-no-such-link'], { mutating: false, reject: false });
    runner.record({ command: 'nsenter', args: ['--net=/run/netns/x', '--', 'bridge', '-batch', '-'], mutating: true, ms: 1, exitCode: 0 });
    runner.record({ command: 'sysctl', args: ['-w', 'x=1'], mutating: true, ms: 0, exitCode: 1, inProcess: true });
    const value = async (name: string, program: string): Promise<number | undefined> =>
      (await samples(metrics, name)).find((s) => s.labels.program === program)?.value;
    expect(await value('netloom_agent_kernel_commands_total', 'ip')).toBe(2);
    expect(await value('netloom_agent_kernel_commands_failed_total', 'ip')).toBe(1);
    expect(await value('netloom_agent_kernel_commands_total', 'bridge')).toBe(1);
    expect(await value('netloom_agent_kernel_commands_failed_total', 'bridge')).toBe(0);
    expect(await value('netloom_agent_kernel_commands_failed_total', 'sysctl')).toBe(1);
    expect(await value('netloom_agent_kernel_commands_total', 'nft')).toBe(0);
  });

  it('times each plugin’s reconcile by plugin id', async () => {
    const metrics = make();
    metrics.pluginReconciled('dhcp', 0.004);
    metrics.pluginReconciled('dhcp', 0.2);
    const counts = (await samples(metrics, 'netloom_agent_plugin_reconcile_duration_seconds')).filter((s) => s.labels.le === '+Inf');
    expect(counts).toEqual([{ labels: { le: '+Inf', plugin: 'dhcp' }, value: 2 }]);
  });

  it('reads resources by state, the drops of the ports reported now, the revision and the channel when scraped', async () => {
    const metrics = make();
    expect(await samples(metrics, 'netloom_agent_resources')).toEqual([]);
    metrics.reported([port('a', RealizationState.APPLIED, '3'), port('b', RealizationState.FAILED, '0'), network('n', RealizationState.APPLIED)]);
    connected = true;
    applied = 42;
    expect(await samples(metrics, 'netloom_agent_resources')).toContainEqual({ labels: { kind: 'Port', state: 'FAILED' }, value: 1 });
    expect(await samples(metrics, 'netloom_agent_port_dropped_spoofed_packets_total')).toEqual([
      { labels: { port_id: 'a' }, value: 3 },
      { labels: { port_id: 'b' }, value: 0 },
    ]);
    expect(await samples(metrics, 'netloom_agent_applied_revision')).toEqual([{ labels: {}, value: 42 }]);
    expect(await samples(metrics, 'netloom_agent_controller_connected')).toEqual([{ labels: {}, value: 1 }]);
    // Port a is gone: its series goes with it; the counter of b moved.
    metrics.reported([port('b', RealizationState.APPLIED, '5')]);
    connected = false;
    expect(await samples(metrics, 'netloom_agent_port_dropped_spoofed_packets_total')).toEqual([{ labels: { port_id: 'b' }, value: 5 }]);
    expect(await samples(metrics, 'netloom_agent_resources')).toEqual([
      { labels: { kind: 'Port', state: 'APPLIED' }, value: 1 },
      { labels: { kind: 'Port', state: 'FAILED' }, value: 0 },
    ]);
    expect(await samples(metrics, 'netloom_agent_controller_connected')).toEqual([{ labels: {}, value: 0 }]);
    // Node's own, in this registry (not the global one).
    expect(await metrics.registry.metrics()).toMatch(/^process_resident_memory_bytes \d+/m);
  });
});
