import ipaddr from 'ipaddr.js';
import { assertNftName } from '@netloom/linux';
import type { NftMapElement } from './host-context';

/**
 * Pure helpers of {@link HostContext.nftTable}'s incremental mode: a body split into its top-level
 * declarations, map elements checked and written as nft lists them, and the one transaction that
 * turns what a table holds into what is wanted by touching only what differs.
 */

/** A top-level declaration of a table body: `chain x { … }`, `set x { … }`, `map x { … }`. */
export interface Part {
  kind: 'chain' | 'set' | 'map';
  name: string;
  text: string;
}

/**
 * The top-level declarations of a body, by `kind name`; undefined when the body holds anything
 * else at the top (it can then only be replaced whole). Quoted text (comments, log prefixes) may
 * hold braces.
 */
export function splitBody(body: string): Map<string, Part> | undefined {
  const parts = new Map<string, Part>();
  const head = /^\s*(chain|set|map)\s+([A-Za-z_][A-Za-z0-9_]*)\s*\{/y;
  let at = 0;
  while (at < body.length) {
    const rest = body.slice(at);
    if (rest.trim() === '') break;
    head.lastIndex = 0;
    const m = head.exec(rest);
    if (!m) return undefined;
    let depth = 0;
    let quoted = false;
    let end = -1;
    for (let i = m[0].length - 1; i < rest.length; i++) {
      const c = rest[i];
      if (c === '"') quoted = !quoted;
      else if (!quoted && c === '{') depth++;
      else if (!quoted && c === '}' && --depth === 0) {
        end = i + 1;
        break;
      }
    }
    if (end < 0) return undefined;
    const kind = m[1] as Part['kind'];
    const key = `${kind} ${m[2]}`;
    if (parts.has(key)) return undefined;
    parts.set(key, { kind, name: m[2], text: rest.slice(0, end).trim() });
    at += end;
  }
  return parts;
}

/** A base chain's `type … hook …` statement (undefined for a regular chain): a change of it needs the chain made again. */
export function hookOf(chainText: string): string | undefined {
  return /\btype\s+\w+\s+hook\s+[^;\n]+/.exec(chainText)?.[0].replace(/\s+/g, ' ');
}

const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;
const VERDICT = /^(accept|drop|continue|return)$|^(jump|goto) ([A-Za-z][A-Za-z0-9_]{0,30})$/;

/** {@link ipPart}'s answers (the same ports' addresses come on every pass), up to a bound. */
const ipParts = new Map<string, string | undefined>();

/** How nft lists an IP or CIDR key part: a host prefix as the address alone; undefined when not canonical. */
function ipPart(value: string): string | undefined {
  if (ipParts.has(value)) return ipParts.get(value);
  if (ipParts.size >= 100_000) ipParts.clear();
  const part = parseIpPart(value);
  ipParts.set(value, part);
  return part;
}

function parseIpPart(value: string): string | undefined {
  try {
    if (!value.includes('/')) return ipaddr.parse(value).toString() === value ? value : undefined;
    const [address, prefix] = ipaddr.parseCIDR(value);
    const network = address.kind() === 'ipv4' ? ipaddr.IPv4.networkAddressFromCIDR(value) : ipaddr.IPv6.networkAddressFromCIDR(value);
    if (`${network.toString()}/${prefix}` !== value) return undefined;
    return prefix === (address.kind() === 'ipv4' ? 32 : 128) ? network.toString() : value;
  } catch {
    return undefined;
  }
}

const looksLikeIp = (value: string): boolean => value.includes(':') || value.includes('/') || /^\d+\.\d+\.\d+\.\d+$/.test(value);

/**
 * The text of one map element as the context compares and writes it (`"br0" . 10.0.0.5 : jump
 * c`), or why it is refused: key parts are canonical IPs or CIDRs, non-negative integers or
 * interface names; values are verdicts or non-negative integers. Nothing else reaches nft.
 */
export function mapElementText(element: unknown): { text: string } | { error: string } {
  const e = element as NftMapElement | null;
  if (!e || typeof e !== 'object' || !Array.isArray(e.key) || e.key.length === 0 || typeof e.value !== 'string') {
    return { error: 'an element is { key: [parts…], value }' };
  }
  const parts: string[] = [];
  for (const part of e.key as unknown[]) {
    if (typeof part !== 'string') return { error: `key part ${JSON.stringify(part)} is not a string` };
    if (looksLikeIp(part)) {
      const ip = ipPart(part);
      if (ip === undefined) return { error: `key part ${JSON.stringify(part)} is not a canonical IP address or CIDR` };
      parts.push(ip);
    } else if (/^\d{1,10}$/.test(part)) parts.push(String(Number(part)));
    else if (IFNAME.test(part)) parts.push(`"${part}"`);
    else return { error: `key part ${JSON.stringify(part)} is neither an IP address, a CIDR, an integer nor an interface name` };
  }
  const value = e.value;
  if (!VERDICT.test(value) && !/^\d{1,10}$/.test(value)) return { error: `value ${JSON.stringify(value)} is neither a verdict (accept, drop, continue, return, jump or goto a chain) nor an integer` };
  const target = VERDICT.exec(value)?.[3];
  if (target) assertNftName(target);
  return { text: `${parts.join(' . ')} : ${value}` };
}

/** One `[key, value]` of an `nft -j` map listing, as {@link mapElementText} writes it. */
export function listedMapElement(element: unknown): string {
  const [key, value] = Array.isArray(element) ? (element as unknown[]) : [element, undefined];
  const part = (p: unknown): string => {
    if (typeof p === 'number') return String(p);
    if (typeof p === 'string') return looksLikeIp(p) ? (ipPart(p) ?? p) : `"${p}"`;
    const prefix = (p as { prefix?: { addr?: string; len?: number } } | null)?.prefix;
    if (prefix) return ipPart(`${String(prefix.addr)}/${String(prefix.len)}`) ?? JSON.stringify(p);
    return JSON.stringify(p);
  };
  const k = (key as { elem?: { val?: unknown } } | null)?.elem?.val ?? key;
  const parts = Array.isArray((k as { concat?: unknown[] } | null)?.concat) ? (k as { concat: unknown[] }).concat : [k];
  const v = value as Record<string, { target?: string } | null> | number | string | undefined;
  let verdict: string;
  if (typeof v === 'number' || typeof v === 'string') verdict = String(v);
  else {
    const [word, arg] = Object.entries(v ?? {})[0] ?? ['?', null];
    verdict = arg?.target ? `${word} ${arg.target}` : word;
  }
  return `${parts.map(part).join(' . ')} : ${verdict}`;
}

/** The key of an element's text (before ` : `), to tell a changed value from a new key. */
export const elementKeyOf = (text: string): string => text.slice(0, text.lastIndexOf(' : '));

/** What a table holds, as the incremental diff needs it. */
export interface HeldParts {
  parts: Map<string, Part>;
  sets: Map<string, string[]>;
  maps: Map<string, string[]>;
  counters: string[];
  mark: string;
}

/**
 * The nft lines that turn `held` into `wanted` in one transaction, touching only what differs:
 * changed or removed chains are flushed (and removed ones deleted), set and map elements are
 * deleted and added one by one, new counters declared and unused ones deleted, and the changed
 * and new declarations written again. Undefined when a set's or map's declaration changed (the
 * table must then be replaced whole).
 */
export function partsDiff(table: string, held: HeldParts, wanted: HeldParts): string | undefined {
  const head: string[] = [];
  // Sets and maps go before chains: a map's elements may jump to a chain on its way out.
  const dropObjects: string[] = [];
  const drop: string[] = [];
  const write: string[] = [];
  const fill: string[] = [];
  for (const [key, old] of held.parts) {
    const next = wanted.parts.get(key);
    if (old.kind !== 'chain') {
      if (next === undefined) dropObjects.push(`delete ${old.kind} ${table} ${old.name}`);
      else if (next.text !== old.text) return undefined;
      continue;
    }
    if (next?.text === old.text) continue;
    head.push(`flush chain ${table} ${old.name}`);
    // Gone, or a base chain on another hook: made again.
    if (next === undefined || hookOf(next.text) !== hookOf(old.text)) drop.push(`delete chain ${table} ${old.name}`);
  }
  for (const [key, next] of wanted.parts) {
    const old = held.parts.get(key);
    if (old?.text !== next.text) write.push(next.text);
  }
  // Elements: removed and changed ones go first (they may jump to a chain on its way out).
  const elements = (kind: 'set' | 'map', name: string, have: readonly string[], want: readonly string[], isNew: boolean): void => {
    const wantSet = new Set(want);
    const haveSet = new Set(have);
    // A map element whose value changed is deleted by its key, then added again.
    const deleted = isNew ? [] : have.filter((e) => !wantSet.has(e)).map((e) => (kind === 'map' ? elementKeyOf(e) : e));
    if (deleted.length) head.push(`delete element ${table} ${name} { ${deleted.join(', ')} }`);
    const added = want.filter((e) => isNew || !haveSet.has(e));
    if (added.length) fill.push(`add element ${table} ${name} { ${added.join(', ')} }`);
  };
  for (const [name, want] of wanted.sets) elements('set', name, held.sets.get(name) ?? [], want, !held.parts.has(`set ${name}`));
  for (const [name, want] of wanted.maps) elements('map', name, held.maps.get(name) ?? [], want, !held.parts.has(`map ${name}`));
  const heldCounters = new Set(held.counters);
  const wantedCounters = new Set(wanted.counters);
  const newCounters = wanted.counters.filter((c) => !heldCounters.has(c));
  const oldCounters = held.counters.filter((c) => !wantedCounters.has(c));
  if (!head.length && !dropObjects.length && !drop.length && !write.length && !fill.length && !newCounters.length && !oldCounters.length && held.mark === wanted.mark) return '';
  if (held.mark !== wanted.mark) drop.push(`delete chain ${table} ${held.mark}`);
  for (const c of oldCounters) drop.push(`delete counter ${table} ${c}`);
  const block = [`table ${table} {`, ...newCounters.map((c) => `counter ${c} {}`), ...(held.mark !== wanted.mark ? [`chain ${wanted.mark} {`, '}'] : []), ...write, '}'];
  return `${[...head, ...dropObjects, ...drop, ...block, ...fill].join('\n')}\n`;
}
