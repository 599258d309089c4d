import type { CommandLog } from '@netloom/linux';
import { RealizationState, ResourceKind, type ResourceStatusReport } from '@netloom/model';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { DROPPED, type PassResult } from './reconciler';

/** Seconds: a pass that changes nothing takes milliseconds, a thousand new ports seconds; a plugin may take its 30 s timeout. */
const PASS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

const PASS_RESULTS: readonly PassResult[] = ['applied', 'failed', 'error'];
/** The programs libs/linux runs (`nsenter --net` only to run `ip` or `bridge` in a namespace), and its netlink helper's requests. */
const PROGRAMS = ['ip', 'bridge', 'tc', 'nft', 'sysctl', 'netlink'];
const STATES = [RealizationState.APPLIED, RealizationState.FAILED];

/** What the gauges read at scrape time. */
export interface AgentMetricsSource {
  /** Whether the channel to a controller is open. */
  connected(): boolean;
  /** The revision the data plane was last reconciled to (stored: it survives a restart). */
  appliedRevision(): number;
}

/** The program a logged command ran: the one `nsenter` started, else the command itself. */
export function programOf(entry: Pick<CommandLog, 'command' | 'args'>): string {
  if (entry.command !== 'nsenter') return entry.command;
  const program = entry.args[entry.args.indexOf('--') + 1];
  return PROGRAMS.includes(program) ? program : entry.command;
}

/** Resources by kind and state: every kind reported has a count for each state (0 included). */
export function resourcesByState(statuses: readonly ResourceStatusReport[]): { kind: string; state: RealizationState; count: number }[] {
  const kinds = [...new Set(statuses.map((s) => s.kind))].sort();
  return kinds.flatMap((kind) => STATES.map((state) => ({ kind, state, count: statuses.filter((s) => s.kind === kind && s.state === state).length })));
}

/** Each secured port's dropped (spoofed) frames as its status carries them; ports without the attribute are left out. */
export function portDrops(statuses: readonly ResourceStatusReport[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of statuses) {
    const text = s.kind === ResourceKind.Port ? s.attributes?.[DROPPED] : undefined;
    const packets = text === undefined ? NaN : Number(text);
    if (Number.isFinite(packets) && packets >= 0) out.set(s.id, packets);
  }
  return out;
}

/**
 * The agent's Prometheus metrics, in a registry of their own. The reconciler, the plugin host and
 * the kernel door (libs/linux's command runner) report through hooks; the gauges read the last
 * statuses and the channel when scraped. Labels stay few: results, programs, kinds, states and
 * plugin ids; ports only in the dropped-frames counter, whose series go with their port. Ports'
 * packets and bytes are not series here (8 per port): GraphQL shows them, and node_exporter's
 * netdev collector already exports every host end by device name.
 */
export class AgentMetrics {
  readonly registry = new Registry();
  /** The statuses of the last pass or observe (what the agent last reported). */
  private statuses: readonly ResourceStatusReport[] = [];

  private readonly passes = new Counter({
    name: 'netloom_agent_reconcile_passes_total',
    help: 'Reconcile passes by result: applied (every resource), failed (some resource failed), error (the pass itself failed).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  private readonly passSeconds = new Histogram({
    name: 'netloom_agent_reconcile_pass_duration_seconds',
    help: 'Reconcile passes, from reading the kernel to the report (plugins included).',
    buckets: PASS_BUCKETS,
    registers: [this.registry],
  });

  private readonly commands = new Counter({
    name: 'netloom_agent_kernel_commands_total',
    help: 'Kernel commands run through libs/linux, by program (a batch counts once; a /proc/sys write done in-process counts as sysctl).',
    labelNames: ['program'] as const,
    registers: [this.registry],
  });

  private readonly commandFailures = new Counter({
    name: 'netloom_agent_kernel_commands_failed_total',
    help: 'Kernel commands that exited non-zero, timed out or could not start, by program.',
    labelNames: ['program'] as const,
    registers: [this.registry],
  });

  private readonly pluginSeconds = new Histogram({
    name: 'netloom_agent_plugin_reconcile_duration_seconds',
    help: "A plugin's reconcile within a pass, by plugin id.",
    labelNames: ['plugin'] as const,
    buckets: PASS_BUCKETS,
    registers: [this.registry],
  });

  private readonly countersSeconds = new Histogram({
    name: 'netloom_agent_port_counters_read_duration_seconds',
    help: "One read of every port's counters (one dump of the host namespace's links).",
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });

  constructor(source: AgentMetricsSource) {
    const registers = [this.registry];
    const statuses = (): readonly ResourceStatusReport[] => this.statuses;
    collectDefaultMetrics({ register: this.registry });
    // Every series from the start, at 0: a rate over a counter that appears late misses its first increase.
    for (const result of PASS_RESULTS) this.passes.inc({ result }, 0);
    for (const program of PROGRAMS) {
      this.commands.inc({ program }, 0);
      this.commandFailures.inc({ program }, 0);
    }
    new Gauge({
      name: 'netloom_agent_resources',
      help: 'Resources desired on this host by kind and realization state, as the agent last reported them.',
      labelNames: ['kind', 'state'] as const,
      registers,
      collect() {
        this.reset();
        for (const { kind, state, count } of resourcesByState(statuses())) this.set({ kind, state }, count);
      },
    });
    new Gauge({
      name: 'netloom_agent_applied_revision',
      help: 'The revision of the desired state the data plane was last reconciled to (the last one that changed this host: the controller sends a host nothing for a write that does not touch it).',
      registers,
      collect() {
        this.set(source.appliedRevision());
      },
    });
    new Gauge({
      name: 'netloom_agent_controller_connected',
      help: '1 while the channel to a controller is open, else 0.',
      registers,
      collect() {
        this.set(source.connected() ? 1 : 0);
      },
    });
    new Counter({
      name: 'netloom_agent_port_dropped_spoofed_packets_total',
      help: "Frames a port's port security dropped (a source MAC or IP not its own), as its nftables counter reads.",
      labelNames: ['port_id'] as const,
      registers,
      // The kernel counts; the series are exactly the ports reported now (a port gone takes its series).
      collect() {
        this.reset();
        for (const [port_id, packets] of portDrops(statuses())) this.inc({ port_id }, packets);
      },
    });
  }

  /** A pass ended (see `ReconcilerOptions.onPass`). */
  passEnded(result: PassResult, seconds: number): void {
    this.passes.inc({ result });
    this.passSeconds.observe(seconds);
  }

  /** A command was logged by libs/linux's runner (see `RunnerOptions.onCommand`). */
  commandRan(entry: CommandLog): void {
    const program = programOf(entry);
    this.commands.inc({ program });
    if (entry.exitCode !== undefined && entry.exitCode !== 0) this.commandFailures.inc({ program });
  }

  /** A plugin's reconcile ended (see `PluginHostOptions.onReconciled`). */
  pluginReconciled(pluginId: string, seconds: number): void {
    this.pluginSeconds.observe({ plugin: pluginId }, seconds);
  }

  /** Port counters were read (see `CountersReporterOptions.onRead`). */
  countersRead(seconds: number): void {
    this.countersSeconds.observe(seconds);
  }

  /** What the agent reports after a pass or an observe: every resource's status. */
  reported(statuses: readonly ResourceStatusReport[]): void {
    this.statuses = statuses;
  }
}
