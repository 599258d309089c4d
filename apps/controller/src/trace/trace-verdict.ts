import type { TraceMember, TracePlan } from './trace-path';

export type TraceVerdictKind = 'DELIVERED' | 'DROPPED' | 'NO_ANSWER';

/** A counted firewall rule (or a policy's default) whose counter moved during the probe. */
export interface TraceRuleHit {
  policyId: string;
  policyName: string;
  /** The rule's priority; null for the policy's default. */
  rule: number | null;
  /** For a default: its direction. */
  direction: string | null;
  action: string;
  packets: number;
  /** The port whose namespace holds the counter. */
  portName: string | null;
  host: string | null;
}

/** Counters of one scope before and after the probe (packets per rule comment), or why they are missing. */
export interface ScopeCounts {
  portName: string | null;
  host: string | null;
  before?: Record<string, number>;
  after?: Record<string, number>;
  error?: string;
}

export interface TraceJudgement {
  verdict: TraceVerdictKind;
  rules: TraceRuleHit[];
  member: TraceMember | null;
  /** Scopes whose counters could not be read (so attribution may be missing). */
  unread: string[];
  summary: string;
}

const FW = /^netloom fw (\S+) (\d+|default-(INGRESS|EGRESS)) (ALLOW|DROP|REJECT)$/;
const LB = /^netloom lb (\S+)$/;

/**
 * The verdict of a probe: DELIVERED when it was answered; DROPPED when it was not and a DROP or
 * REJECT rule (or default) counted packets meanwhile; NO_ANSWER otherwise. The rules named and the
 * member chosen are those whose counters moved between the reads before and after the probe:
 * other traffic at the same time can move them too (said in the summary when more than one moved).
 */
export function judge(plan: TracePlan, counts: ScopeCounts[], sent: { ok: boolean; detail: string }, policyNames: ReadonlyMap<string, string>): TraceJudgement {
  const rules: TraceRuleHit[] = [];
  const moved: { key: string; packets: number }[] = [];
  const unread: string[] = [];
  for (const scope of counts) {
    if (scope.error || !scope.before || !scope.after) {
      unread.push(`${scope.portName ?? 'appliance'}${scope.host ? ` on host ${scope.host}` : ''}: ${scope.error ?? 'not read'}`);
      continue;
    }
    for (const [comment, after] of Object.entries(scope.after)) {
      const delta = after - (scope.before[comment] ?? 0);
      if (delta <= 0) continue;
      const fw = FW.exec(comment);
      if (fw) {
        const isDefault = fw[2].startsWith('default-');
        rules.push({
          policyId: fw[1],
          policyName: policyNames.get(fw[1]) ?? fw[1],
          rule: isDefault ? null : Number(fw[2]),
          direction: isDefault ? fw[3] : null,
          action: fw[4],
          packets: delta,
          portName: scope.portName,
          host: scope.host,
        });
        continue;
      }
      const lb = LB.exec(comment);
      if (lb) moved.push({ key: lb[1], packets: delta });
    }
  }
  const listener = plan.loadBalancer?.listener;
  const candidates = (plan.loadBalancer?.members ?? []).filter((m) => moved.some((k) => listener && k.key === `${listener.protocol}/${listener.port}>${m.address}:${m.port}`));
  const member = candidates.length === 1 ? candidates[0] : null;
  const blocking = rules.filter((r) => r.action !== 'ALLOW');
  const verdict: TraceVerdictKind = sent.ok ? 'DELIVERED' : blocking.length ? 'DROPPED' : 'NO_ANSWER';
  const name = (r: TraceRuleHit): string => `policy ${r.policyName} ${r.rule === null ? `default (${r.direction})` : `rule ${r.rule}`} (${r.action}) at port ${r.portName ?? '?'}`;
  const parts: string[] = [];
  if (verdict === 'DELIVERED') parts.push(`delivered to ${plan.target} (${sent.detail})`);
  else if (verdict === 'DROPPED') parts.push(`dropped by ${name(blocking[0])} (${sent.detail})`);
  else parts.push(`no answer from ${plan.target} (${sent.detail}); no counted rule dropped it`);
  const allowed = rules.filter((r) => r.action === 'ALLOW');
  if (verdict === 'DELIVERED' && allowed.length) parts.push(`allowed by ${allowed.map(name).join(', ')}`);
  if (member) parts.push(`load balancer ${plan.loadBalancer!.name} chose member ${member.name} (${member.address}:${member.port})`);
  else if (candidates.length > 1) parts.push(`several members' counters moved (${candidates.map((m) => m.name).join(', ')}): other traffic at the same time`);
  if (blocking.length > 1 || (verdict === 'DELIVERED' && blocking.length)) parts.push('more drop counters moved than this probe explains: other traffic at the same time');
  if (unread.length) parts.push(`counters not read: ${unread.join('; ')}`);
  return { verdict, rules, member, unread, summary: parts.join('; ') };
}
