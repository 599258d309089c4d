import type { PlanQuery } from '../generated/graphql';

type HostPlans = PlanQuery['plan'];
type Command = HostPlans['hosts'][number]['portSecurity'][number];

const SIGN = { CREATED: '+', CHANGED: '~', DELETED: '-' } as const;

/** One command as a person would type it: `ip …`, `ip -n NS …`, `bridge …`, `nft …`. */
export const commandLine = (c: Command): string => `${c.tool}${c.netns ? ` -n ${c.netns}` : ''} ${c.line}`;

/**
 * The `plan` query's answer as `netloom diff --hosts` prints it: by host, then by resource (+
 * created, ~ changed, - deleted), each with the commands its agent would run; a plugin kind with
 * the spec fields that change (its agent half decides the commands); the port-security nft
 * script last.
 */
export function formatHostPlans(plan: HostPlans): string {
  if (!plan.hosts.length) return 'No host changes.';
  const lines = [`Per host (${plan.assumption}; what is created gets its id, and the names and MAC derived from it, when applied):`];
  for (const host of plan.hosts) {
    const prefix = host.prefixReported ? `names with prefix ${host.prefix}` : `agent did not report its prefix: names assume ${host.prefix}`;
    lines.push(`host ${host.hostName} (${prefix})`);
    for (const r of host.resources) {
      lines.push(`  ${SIGN[r.change]} ${r.kind} ${r.name ?? r.id}${r.byPlugin ? ' (commands decided by its plugin on the host)' : ''}`);
      if (r.byPlugin) lines.push(...r.fields.map((f) => `      ${f.field}: ${f.before ?? '<unset>'} → ${f.after ?? '<unset>'}`));
      lines.push(...r.commands.map((c) => `      ${commandLine(c)}`));
      lines.push(...r.problems.map((p) => `      ! ${p}`));
      if (!r.byPlugin && !r.commands.length && !r.problems.length) lines.push('      (no command: the kernel already matches)');
    }
    if (host.portSecurity.length) lines.push('  ~ port security (nft -f)', ...host.portSecurity.map((c) => `      ${c.line}`));
  }
  return lines.join('\n');
}
