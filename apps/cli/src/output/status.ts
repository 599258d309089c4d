import { CliError } from '../errors';

/** One host's realization of a resource, as the API reports it. */
export interface HostStatus {
  hostId: string;
  host?: { name: string } | null;
  state: string;
  reason?: string | null;
  generation: number;
}

const hostName = (s: HostStatus): string => s.host?.name ?? s.hostId;

/**
 * The STATUS column: "FAILED on h1,h2" when a host failed, else "N/M APPLIED" where a host counts
 * only once it applied the current generation; "<none>" when no host reported.
 */
export function summarizeStatus(statuses: readonly HostStatus[], generation: number): string {
  if (statuses.length === 0) return '<none>';
  const failed = statuses.filter((s) => s.state === 'FAILED');
  if (failed.length) return `FAILED on ${failed.map(hostName).sort().join(',')}`;
  const applied = statuses.filter((s) => s.state === 'APPLIED' && s.generation >= generation).length;
  return `${applied}/${statuses.length} APPLIED`;
}

/** A line per host for describe: state, generation (marked when behind), reason. */
export function statusLines(statuses: readonly HostStatus[], generation: number): string[] {
  return [...statuses]
    .sort((a, b) => hostName(a).localeCompare(hostName(b)))
    .map((s) => {
      const behind = s.generation < generation ? ` (generation ${s.generation}, current ${generation})` : '';
      const reason = s.reason ? `: ${s.reason}` : '';
      return `${hostName(s)}  ${s.state}${behind}${reason}`;
    });
}

/** `-l key=value,key2=value2`: the equality selectors the API filters on. */
export function parseSelector(selector: string | undefined): { key: string; value: string }[] | undefined {
  if (selector === undefined) return undefined;
  return selector.split(',').map((term) => {
    const match = /^\s*([^=!\s]+)\s*=\s*([^=,\s]*)\s*$/.exec(term);
    if (!match) throw new CliError(`label selector "${term}": only key=value terms are supported, joined by commas`);
    return { key: match[1], value: match[2] };
  });
}


