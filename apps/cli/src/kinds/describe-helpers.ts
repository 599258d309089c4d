import { stringify } from 'yaml';
import { age, cell, labelsText } from '../output/table';
import { statusLines, type HostStatus } from '../output/status';
import type { KindObject } from './kind';

/** The fields every kind has, first in describe. */
export function commonFields(typeName: string, o: KindObject & { updatedAt?: string }): [string, string][] {
  return [
    ['Name', o.name],
    ['Kind', typeName],
    ['ID', o.id],
    ['Generation', String(o.generation)],
    ['Labels', labelsText(o.labels)],
    ['Created', `${o.createdAt} (${age(o.createdAt)} ago)`],
    ...(o.updatedAt ? ([['Updated', o.updatedAt]] as [string, string][]) : []),
  ];
}

interface StatusWithAttributes extends HostStatus {
  attributes?: { key: string; value: string }[];
  observed?: unknown;
}

/** Status per host with its reason, and under each host what its agent realized and observes. */
export function statusSection(statuses: readonly StatusWithAttributes[], generation: number): { title: string; lines: string[] } {
  if (statuses.length === 0) return { title: 'Status', lines: ['<no host reported>'] };
  const sorted = [...statuses].sort((a, b) => (a.host?.name ?? a.hostId).localeCompare(b.host?.name ?? b.hostId));
  const heads = statusLines(sorted, generation);
  const lines: string[] = [];
  sorted.forEach((s, i) => {
    lines.push(heads[i]);
    for (const a of s.attributes ?? []) lines.push(`  ${a.key}: ${a.value}`);
    if (s.observed) lines.push('  observed:', ...indent(yamlOf(s.observed), 4));
  });
  return { title: 'Status', lines };
}

/** The value without its null fields (what was left unset), recursively. */
export function withoutNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutNulls);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null).map(([k, v]) => [k, withoutNulls(v)]));
}

/** A value as YAML lines (without the trailing newline), unset fields left out. */
export function yamlOf(value: unknown): string[] {
  return stringify(withoutNulls(value)).trimEnd().split('\n');
}

export const indent = (lines: string[], spaces: number): string[] => lines.map((l) => ' '.repeat(spaces) + l);

/** A field of describe: scalars as they are, lists and objects as indented YAML. */
export function fieldValue(value: unknown): string {
  if (value === null || value === undefined || typeof value !== 'object') return cell(value);
  if (Array.isArray(value) && value.length === 0) return '<none>';
  return '\n' + indent(yamlOf(value), 2).join('\n');
}
