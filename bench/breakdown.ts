/**
 * Where one change's time goes, from the trace lines (`NETLOOM_TRACE=1`, `@netloom/protocol`'s
 * `trace`) of the controller and of the agent that applied it: one row per phase, p50 / p99 over
 * the runs, and the kernel commands of the agent's pass. Benchmarks only.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { TracePoint } from '@netloom/protocol';

/** One measured request: when it was sent and answered, on the trace clock (`traceNow`). */
export interface TracedRun {
  from: number;
  to: number;
}

/** The points along the path, in order, each with the phase that ends there. */
const PATH: [point: string, phase: string][] = [
  ['controller.commit', 'request → commit (HTTP, GraphQL, the write)'],
  ['controller.dispatch.refreshed', 'commit → changed rows read again (dispatcher)'],
  ['controller.dispatch.realized', 'dispatcher: recompute what they touch'],
  ['controller.update.sent', 'dispatcher: first update sent'],
  ['agent.update.received', 'update on the wire'],
  ['agent.pass.start', 'agent: waiting for its pass'],
  ['agent.pass.observed', 'agent: observe (links, namespaces, nft table)'],
  ['agent.pass.planned', 'agent: plan'],
  ['agent.pass.portsec', 'agent: port-security plan'],
  ['agent.pass.root', 'agent: nft -f ∥ root ip -batch'],
  ['agent.pass.netns', 'agent: ip -n NS -batch ∥ verify'],
  ['agent.pass.plugins', 'agent: plugins'],
  ['agent.pass.statuses', 'agent: statuses'],
  ['agent.ack.sent', 'agent: report → ack sent'],
  ['controller.ack.received', 'ack on the wire'],
  ['controller.ack.stored', 'controller: ack stored'],
  ['controller.wait.done', 'controller: wait notices'],
];
/** Points off the path whose detail is their own duration in ms. */
const BESIDE: [point: string, label: string][] = [
  ['agent.desired.stored', 'agent: desired state written (beside the pass)'],
  ['agent.pass.stored', 'agent: applied state written (after the ack)'],
];

const pct = (values: number[], p: number): number => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((p / 100) * values.length))];

interface RunBreakdown {
  phases: Map<string, number>;
  commands: { signature: string; ms: number; mutating: boolean }[];
}

/** A command line with the run's names (anything holding 8 hex digits) shown as NAME. */
const signature = (text: string): string =>
  text
    .split(' ')
    .map((word) => (/[0-9a-f]{8}/.test(word) || /^[a-z0-9]{2,6}_portsec$/.test(word) ? 'NAME' : word))
    .join(' ');

function one(run: TracedRun, controller: TracePoint[], agents: TracePoint[][]): RunBreakdown | undefined {
  const inRun = (p: TracePoint): boolean => p.at >= run.from && p.at <= run.to;
  const commit = controller.find((p) => inRun(p) && p.point === 'controller.commit');
  if (!commit) return undefined;
  const revision = commit.revision;
  // The agent `wait` waited for: the last one to ack this revision.
  const ackOf = (trace: TracePoint[]): number => trace.find((p) => p.point === 'agent.ack.sent' && p.revision >= revision && p.at >= run.from)?.at ?? -1;
  const agent = agents.reduce((last, trace) => (ackOf(trace) > ackOf(last) ? trace : last), agents[0] ?? []);
  const points = [...controller, ...agent].filter((p) => inRun(p) && p.revision === revision).sort((a, b) => a.at - b.at);
  const phases = new Map<string, number>();
  let last = run.from;
  for (const [point, phase] of PATH) {
    const found = points.find((p) => p.point === point && p.at >= last);
    if (!found) continue;
    phases.set(phase, found.at - last);
    last = found.at;
  }
  phases.set('controller: answer → client', run.to - last);
  for (const [point, label] of BESIDE) {
    const found = agent.find((p) => p.point === point && p.revision === revision && p.at >= run.from);
    if (found) phases.set(label, Number(found.detail));
  }
  // The pass's commands are traced right after its applied state is stored (after the ack: maybe after the answer).
  const passStart = points.find((q) => q.point === 'agent.pass.start')?.at ?? run.from;
  const stored = agent.find((p) => p.point === 'agent.pass.stored' && p.revision === revision && p.at >= passStart);
  const commands: RunBreakdown['commands'] = [];
  if (stored) {
    for (const p of agent.slice(agent.indexOf(stored) + 1)) {
      if (p.point !== 'agent.command') break;
      const [ms, mode, ...words] = p.detail.split(' ');
      commands.push({ signature: signature(words.join(' ')), ms: Number(ms), mutating: mode === 'w' });
    }
  }
  return { phases, commands };
}

/**
 * The breakdown's lines (indented), or one line saying the trace was not found. With several
 * agents, each run follows the one whose ack came last (the one `wait` waited for).
 */
export function breakdownLines(runs: TracedRun[], controller: TracePoint[], agents: TracePoint[][]): string[] {
  const all = runs.map((r) => one(r, controller, agents)).filter((b): b is RunBreakdown => b !== undefined);
  if (!all.length) return ['   (no trace lines: was NETLOOM_TRACE=1 passed to the controller and the agent?)'];
  const whose = agents.length > 1 ? ', along the last host to ack' : '';
  const out = [`   where the time goes (p50 / p99 ms over ${all.length} runs${whose}; the phases' p50s need not add up to the total's):`];
  const labels = [...PATH.map(([, phase]) => phase), 'controller: answer → client', ...BESIDE.map(([, label]) => label)];
  const width = Math.max(...labels.map((l) => l.length));
  for (const label of labels) {
    const values = all.map((b) => b.phases.get(label)).filter((v): v is number => v !== undefined);
    if (!values.length) continue;
    out.push(`     ${label.padEnd(width)}  ${pct(values, 50).toFixed(1).padStart(6)} / ${pct(values, 99).toFixed(1).padStart(6)}`);
  }
  const counts = all.map((b) => b.commands.length);
  const sums = all.map((b) => b.commands.reduce((n, c) => n + c.ms, 0));
  out.push(`   kernel commands in the agent's pass: p50 ${pct(counts, 50)} processes, ${pct(sums, 50).toFixed(1)} ms summed (reads run side by side):`);
  const bySignature = new Map<string, { ms: number[]; mutating: boolean }>();
  for (const b of all) {
    for (const c of b.commands) {
      const entry = bySignature.get(c.signature) ?? { ms: [], mutating: c.mutating };
      entry.ms.push(c.ms);
      bySignature.set(c.signature, entry);
    }
  }
  for (const [sig, { ms, mutating }] of [...bySignature].sort((a, b) => pct(b[1].ms, 50) - pct(a[1].ms, 50))) {
    out.push(`     ${(ms.length / all.length).toFixed(1).padStart(4)} × ${pct(ms, 50).toFixed(1).padStart(6)} ms  ${mutating ? 'write' : 'read '}  ${sig}`);
  }
  return out;
}

/** Clock ticks per second of /proc's CPU times (USER_HZ: 100 on every Linux this runs on). */
const USER_HZ = 100;

/** The pids below `pid` (its children, theirs, …), from /proc; none for a process gone. */
function descendants(pid: number): number[] {
  let children: number[] = [];
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      children.push(...readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').split(' ').filter(Boolean).map(Number));
    }
  } catch {
    children = [];
  }
  return children.flatMap((child) => [child, ...descendants(child)]);
}

/** CPU time (user + system, ms) `pid` has used so far; 0 for a process gone. */
function cpuMsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command (in parentheses, which may hold spaces): utime and stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / USER_HZ;
  } catch {
    return 0;
  }
}

/**
 * CPU time (ms) used so far by each process tree (a controller, an agent with the helpers and
 * monitors it started), in `pids`' order: two readings apart say where the CPU of what ran in
 * between went (10 ms resolution per process: read over several runs).
 */
export function cpuOfTrees(pids: number[]): number[] {
  return pids.map((pid) => [pid, ...descendants(pid)].reduce((sum, p) => sum + cpuMsOf(p), 0));
}

/** One line: the CPU per run of each tree between two {@link cpuOfTrees} readings, and their sum against the cores. */
export function cpuLine(names: string[], before: number[], after: number[], runs: number): string {
  const per = after.map((a, i) => (a - before[i]) / runs);
  const parts = per.map((ms, i) => `${names[i]} ${ms.toFixed(0)}`);
  return `CPU per run (user + system, from /proc, over ${runs}): ${parts.join(', ')} ms; ${per.reduce((s, v) => s + v, 0).toFixed(0)} ms in all on ${availableParallelism()} cores`;
}
