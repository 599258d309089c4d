/**
 * Figures measured elsewhere that the benchmarks print beside their own (never compared by a
 * test), and what the benchmarks print about the run itself.
 */
import { loadavg } from 'node:os';

/** OVN 23.03 binding 500 ports (NB first, `--wait=hv`), on this machine kind, quiet: measured 2026-12-02. */
export const OVN_500_PORTS = { fromMs: 1500, toMs: 1570, measured: '2026-12-02' };

/** The OVN figure as the benchmarks print it. */
export const ovn500 = `OVN 23.03 binds 500 in ${OVN_500_PORTS.fromMs}–${OVN_500_PORTS.toMs} ms (measured ${OVN_500_PORTS.measured})`;

/** The machine's load averages now (other work on a shared machine slows every figure). */
export const load = (): string => `load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`;

/** The agent's log line saying how its kernel batches go (`--netlink`), or a note that it was not found. */
export function kernelDoor(agentLog: string): string {
  return /kernel batches: ([^"]*)"/.exec(agentLog)?.[1] ?? '(the agent did not say how its kernel batches go)';
}
