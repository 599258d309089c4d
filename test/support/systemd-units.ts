// Reading the unit and environment files of deploy/systemd the way systemd does, for the parts
// they use, and turning a unit into what systemd would run: a command line, an environment and
// the setpriv options standing in for its user and capability settings (systemd is not PID 1
// on the test machines). Anything these files do not use is refused, so a new construct in a
// unit fails the test until it is understood here.
import { readFileSync } from 'node:fs';

/** A unit file: its sections, each a list of `[key, value]` in file order (keys may repeat). */
export type Unit = Map<string, [string, string][]>;

export function parseUnit(text: string): Unit {
  const unit: Unit = new Map();
  let section: [string, string][] | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    if (line.endsWith('\\')) throw new Error(`continued lines are not read here: ${line}`);
    const header = /^\[([A-Za-z]+)\]$/.exec(line);
    if (header) {
      section = [];
      unit.set(header[1], section);
      continue;
    }
    const at = line.indexOf('=');
    if (!section || at < 1) throw new Error(`not a unit line: ${line}`);
    section.push([line.slice(0, at), line.slice(at + 1)]);
  }
  return unit;
}

/** Every value of `key` in `[section]`, in order. */
export const values = (unit: Unit, section: string, key: string): string[] =>
  (unit.get(section) ?? []).filter(([k]) => k === key).map(([, v]) => v);

/** The one value of `key` in `[Service]`, or undefined. */
export function serviceValue(unit: Unit, key: string): string | undefined {
  const all = values(unit, 'Service', key);
  if (all.length > 1) throw new Error(`${key} is given ${all.length} times`);
  return all[0];
}

/** Where systemd's specifiers point for this run: `%d` (credentials) and `%S` (state directories). */
export interface Specifiers {
  d?: string;
  S: string;
}

export function expand(text: string, specifiers: Specifiers): string {
  return text.replace(/%(.)/g, (_all, letter: string) => {
    if (letter === '%') return '%';
    const value = specifiers[letter as keyof Specifiers];
    if (value === undefined) throw new Error(`specifier %${letter} is not known to this test: ${text}`);
    return value;
  });
}

/** Space-separated words without quotes or escapes (what these units use), refused otherwise. */
function words(text: string): string[] {
  if (/["'\\]/.test(text)) throw new Error(`quoting is not read here: ${text}`);
  return text.split(/\s+/).filter(Boolean);
}

/** The assignments of an environment file (`NAME=value` lines; comments and blank lines skipped). */
export function environmentFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!match || /["'\\]/.test(match[2])) throw new Error(`not a plain NAME=value line: ${line}`);
    env[match[1]] = match[2];
  }
  return env;
}

/** NETLOOM_* names a file assigns anywhere (commented-out lines and command examples included). */
export const netloomNames = (text: string): string[] => [...new Set([...text.matchAll(/\b(NETLOOM_[A-Z0-9_]+)=/g)].map((m) => m[1]))];

/** systemd's PATH for services. */
const SERVICE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface ServiceRun {
  /** setpriv and its options, `--`, then the unit's ExecStart as it would run. */
  argv: string[];
  env: Record<string, string>;
}

/**
 * What systemd would start for `unit`: `Environment=` lines (specifiers expanded), then the
 * environment file (its values win, as in systemd), then `overrides`; ExecStart with `rewrite`
 * applied to each word (the install layout mapped onto this build); the user and capability
 * settings as setpriv options (`DynamicUser=yes` runs as `user`, e.g. nobody).
 */
export function serviceRun(unit: Unit, options: { specifiers: Specifiers; envFile: string; overrides: Record<string, string>; rewrite: (word: string) => string; user: { uid: number; gid: number } }): ServiceRun {
  const env: Record<string, string> = { PATH: SERVICE_PATH };
  for (const line of values(unit, 'Service', 'Environment')) {
    for (const word of words(expand(line, options.specifiers))) {
      const at = word.indexOf('=');
      env[word.slice(0, at)] = word.slice(at + 1);
    }
  }
  Object.assign(env, environmentFile(readFileSync(options.envFile, 'utf8')), options.overrides);
  const exec = serviceValue(unit, 'ExecStart');
  if (!exec || /^[-+!@:]/.test(exec)) throw new Error(`ExecStart without prefixes expected, got ${exec}`);
  const setpriv = ['setpriv'];
  if (serviceValue(unit, 'DynamicUser') === 'yes') setpriv.push('--reuid', String(options.user.uid), '--regid', String(options.user.gid), '--clear-groups');
  if (serviceValue(unit, 'NoNewPrivileges') === 'yes') setpriv.push('--no-new-privs');
  const bound = serviceValue(unit, 'CapabilityBoundingSet');
  if (bound === undefined) throw new Error('the unit must bound its capabilities (CapabilityBoundingSet=)');
  setpriv.push('--bounding-set', ['-all', ...capabilities(bound).map((c) => `+${c.slice(4).toLowerCase()}`)].join(','));
  return { argv: [...setpriv, '--', ...words(expand(exec, options.specifiers)).map(options.rewrite)], env };
}

/** The capability names of a `CapabilityBoundingSet=` value (allow-list form only). */
export function capabilities(value: string): string[] {
  const list = words(value);
  for (const name of list) if (!/^CAP_[A-Z_]+$/.test(name)) throw new Error(`not a capability name: ${name} (only an allow-list is read here)`);
  return list;
}
