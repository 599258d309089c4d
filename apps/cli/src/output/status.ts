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

/** Where the controller placed a plugin resource (its `placement` field): PENDING, PLACED on `hosts` hosts, or NONE with a reason. */
export interface Placement {
  state: string;
  hosts: number;
  reason?: string | null;
}

/**
 * The STATUS column: "FAILED on h1,h2" when a host failed, else "N/M APPLIED" where a host counts
 * only once it applied the current generation and M is every host it is placed on (also those
 * that did not report yet, when the placement is known); for a plugin resource placed nowhere
 * "NONE: <reason>", not placed yet "PENDING"; "<none>" when no host reported and nothing more is known.
 */
export function summarizeStatus(statuses: readonly HostStatus[], generation: number, placement?: Placement | null): string {
  const failed = statuses.filter((s) => s.state === 'FAILED');
  if (failed.length) return `FAILED on ${failed.map(hostName).sort().join(',')}`;
  if (statuses.length === 0 && placement?.state === 'NONE') return `NONE: ${placement.reason ?? 'placed on no host'}`;
  if (statuses.length === 0 && placement?.state === 'PENDING') return 'PENDING';
  const hosts = Math.max(statuses.length, placement?.state === 'PLACED' ? placement.hosts : 0);
  if (hosts === 0) return '<none>';
  const applied = statuses.filter((s) => s.state === 'APPLIED' && s.generation >= generation).length;
  return `${applied}/${hosts} APPLIED`;
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


