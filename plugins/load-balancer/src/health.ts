import type { HostContext } from '@netloom/plugin-sdk';
import type { PlacedMonitor } from './spec';

/** One member under a health monitor, as a load balancer's host sees it. */
export interface MemberCheck {
  /** Unique on the host: the load balancer id and the member key. */
  key: string;
  netns: string;
  address: string;
  port: number;
  monitor: PlacedMonitor;
  /**
   * What it starts as before its first check: ONLINE, unless another source knows better (a
   * DISTRIBUTED member: what this host last reported of it, as the controller kept it, so an
   * agent that restarts does not put a dead member back for `fall` checks). Not part of the check.
   */
  initiallyOnline?: boolean;
}

interface Tracked {
  check: MemberCheck;
  /** The check, as JSON: a change starts the member over. */
  config: string;
  online: boolean;
  /** Consecutive results against the current state. */
  streak: number;
  last?: string;
  timer?: NodeJS.Timeout;
}

/** A check as JSON: a change starts the member over (what it starts as is no change). */
const configOf = ({ initiallyOnline: _, ...check }: MemberCheck): string => JSON.stringify(check);

/**
 * Health checks of the members of the load balancers on one host, HAProxy-style: a member starts
 * ONLINE; `fall` consecutive failed checks take it OFFLINE, `rise` consecutive passes bring it
 * back. Each member is checked every `intervalMs` from its load balancer's namespace (through
 * {@link HostContext.probe}); a change of state asks the agent for a reconcile, which rewrites the
 * load balancer's map.
 */
export class HealthChecks {
  private readonly tracked = new Map<string, Tracked>();
  private stopped = false;

  constructor(private readonly host: HostContext) {}

  /** Checks exactly these members from now on (ones already checked keep their state). */
  sync(checks: MemberCheck[]): void {
    const wanted = new Map(checks.map((c) => [c.key, c]));
    for (const [key, t] of this.tracked) {
      const c = wanted.get(key);
      if (!c || configOf(c) !== t.config) {
        clearTimeout(t.timer);
        this.tracked.delete(key);
      }
    }
    for (const c of checks) {
      if (this.tracked.has(c.key)) continue;
      const t: Tracked = { check: c, config: configOf(c), online: c.initiallyOnline ?? true, streak: 0 };
      this.tracked.set(c.key, t);
      this.schedule(t, 0);
    }
  }

  /** ONLINE or OFFLINE, and what the last check saw; undefined when the member is not checked. */
  state(key: string): { online: boolean; last?: string } | undefined {
    const t = this.tracked.get(key);
    return t && { online: t.online, last: t.last };
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.tracked.values()) clearTimeout(t.timer);
    this.tracked.clear();
  }

  private schedule(t: Tracked, delay: number): void {
    if (this.stopped) return;
    t.timer = setTimeout(() => void this.run(t), delay);
    t.timer.unref();
  }

  private async run(t: Tracked): Promise<void> {
    const { check } = t;
    const { monitor } = check;
    const started = Date.now();
    const result = await this.host.probe(check.netns, {
      type: monitor.type === 'HTTP' ? 'http' : 'tcp',
      address: check.address,
      port: check.port,
      timeoutMs: monitor.timeoutMs,
      ...(monitor.type === 'HTTP' ? { path: monitor.path, expectStatus: monitor.expect } : {}),
    });
    // Replaced or dropped while the probe ran: its result is stale.
    if (this.tracked.get(check.key) !== t) return;
    t.last = result.detail;
    if (result.ok === t.online) t.streak = 0;
    else t.streak += 1;
    if (t.streak >= (t.online ? monitor.fall : monitor.rise)) {
      t.online = !t.online;
      t.streak = 0;
      this.host.requestReconcile(`member ${check.address}:${check.port} is ${t.online ? 'ONLINE' : 'OFFLINE'} (${result.detail})`);
    }
    // At a fixed rate: a slow check does not stretch the interval.
    this.schedule(t, Math.max(0, monitor.intervalMs - (Date.now() - started)));
  }
}
