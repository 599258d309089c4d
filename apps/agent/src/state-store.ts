import { randomUUID } from 'node:crypto';
import { appendFileSync, chmodSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DesiredResource, resourceKey, ResourceRef } from '@netloom/model';
import type { Log } from './log';

export interface DesiredFile {
  revision: number;
  resources: DesiredResource[];
}

/** A change to the desired state, as an update brings it: deletes, then upserts. */
export interface DesiredChange {
  revision: number;
  upserts: DesiredResource[];
  deletes: ResourceRef[];
}

export interface AppliedFile {
  /** The last desired revision fully reconciled. */
  revision: number;
  /** Spec hash of each resource (by id) whose spec was applied and verified. */
  ports: Record<string, string>;
}

/** The host credential; without `hostId`, one made and stored before the join that binds it. */
export interface CredentialFile {
  hostId?: string;
  credential: string;
  /** Before the join: SHA-256 of the join token it is for (another token gets another credential). */
  forToken?: string;
}

export interface StateStoreOptions {
  /** Where trouble is told (default: stderr). */
  log?: Log;
  /** How long to wait before writing again what could not be written. */
  retryMs?: number;
}

/** The controller address the channel last got an answer from (several may be configured). */
export interface ControllerFile {
  address: string;
}

const FILES = ['credential.json', 'desired.json', 'desired.log', 'applied.json', 'controller.json'];
/**
 * How long the applied state waits to be written when only its revision moved (most passes: a
 * rename each cost the agent ~1.7 ms of blocked time per change). A crash meanwhile costs a
 * snapshot on reconnect instead of a delta; the ports' hashes are written at once.
 */
const APPLIED_LAG_MS = 1_000;
/** Quiet time after the last change before the desired state is written whole again (and its log goes)… */
const COMPACT_AFTER_MS = 1_000;
/** …or at once when the log holds this many changes (changes that never pause). */
const MAX_LOGGED = 500;
const TEMP = /^(credential|desired|applied|controller)\.json\.\d+\.tmp$/;
const message = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/**
 * The agent's state directory (mode 0700, files 0600): its host credential, the last desired
 * state it received (so a restart keeps the data plane when the controller is away), what it
 * applied, and which controller answered last. Files are replaced atomically (write, then
 * rename), never synced: a killed agent
 * loses nothing written, and what a power cut takes is rebuilt (the kernel's objects went too).
 * The desired state is a snapshot (`desired.json`) and the changes since (`desired.log`, one
 * line each, appended: an update costs its own size, not the host's), folded into a new snapshot
 * once changes are quiet for a second. The applied state is written at once when what was
 * applied changed, within a second when only its revision moved. A write that fails (disk full, read-only) never stops the
 * agent: the value is kept in memory, read back from there, and written again (whole) every
 * `retryMs` until it lands; `problem` says why meanwhile.
 */
export class StateStore {
  /** The newest value of each file, written or not yet. */
  private readonly values = new Map<string, unknown>();
  private readonly unwritten = new Set<string>();
  private retry: NodeJS.Timeout | undefined;
  private compaction: NodeJS.Timeout | undefined;
  /** A write of the applied state whose revision alone moved, waiting ({@link APPLIED_LAG_MS}). */
  private appliedLater: NodeJS.Timeout | undefined;
  /**
   * The id of `desired.json` as written: log lines carry it, and only lines of the snapshot
   * there are replayed (a newer snapshot makes older lines void, even before they are removed).
   * Undefined: no snapshot is known, a change is written whole.
   */
  private journal: string | undefined;
  /** Changes logged since the snapshot. */
  private logLines = 0;
  private readonly retryMs: number;
  private readonly log: Log;
  /** Why the last write failed, or null once everything is written. */
  problem: string | null = null;
  /** Called when `problem` changes. */
  onProblem: (problem: string | null) => void = () => undefined;

  constructor(
    readonly dir: string,
    options: StateStoreOptions = {},
  ) {
    this.retryMs = options.retryMs ?? 2_000;
    this.log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.tighten();
  }

  readCredential(): CredentialFile | null {
    return this.read('credential.json');
  }

  /** Writes the credential now, or throws: nothing may be sent on the strength of a credential not stored. */
  writeCredentialNow(value: CredentialFile): void {
    this.writeFile('credential.json', value);
    this.values.set('credential.json', value);
    this.unwritten.delete('credential.json');
  }

  writeCredential(value: CredentialFile): void {
    this.write('credential.json', value);
  }

  /** The desired state: as last written or changed here, else the snapshot on disk with its logged changes. */
  readDesired(): DesiredFile | null {
    if (this.values.has('desired.json')) return this.values.get('desired.json') as DesiredFile;
    const stored = readStoredDesired(this.dir);
    if (!stored) return null;
    this.journal = stored.journal;
    this.logLines = stored.logged;
    this.values.set('desired.json', stored.value);
    return stored.value;
  }

  /** A new desired state, written whole (a snapshot from the controller). */
  writeDesired(value: DesiredFile): void {
    this.write('desired.json', value);
  }

  /**
   * A change to the desired state (`value`, the state it makes): only the change is appended to
   * the log. Written whole instead when no snapshot is known or the last whole write failed.
   */
  changeDesired(change: DesiredChange, value: DesiredFile): void {
    if (this.journal === undefined || this.unwritten.has('desired.json') || this.logLines >= MAX_LOGGED) {
      this.write('desired.json', value);
      return;
    }
    this.values.set('desired.json', value);
    try {
      appendFileSync(join(this.dir, 'desired.log'), `${JSON.stringify({ journal: this.journal, ...change })}\n`, { mode: 0o600 });
      this.logLines++;
    } catch {
      // Written whole instead, now or on a retry (a line cut short at the end is skipped when read).
      this.write('desired.json', value);
      return;
    }
    clearTimeout(this.compaction);
    this.compaction = setTimeout(() => {
      if (!this.unwritten.has('desired.json')) this.write('desired.json', this.values.get('desired.json'));
    }, COMPACT_AFTER_MS);
    this.compaction.unref();
  }

  readApplied(): AppliedFile {
    return this.read<AppliedFile>('applied.json') ?? { revision: 0, ports: {} };
  }

  /** The applied state: written at once when its ports' hashes changed, else (the revision alone) within {@link APPLIED_LAG_MS}. */
  writeApplied(value: AppliedFile): void {
    const before = this.read<AppliedFile>('applied.json');
    if (before && samePorts(before.ports, value.ports)) {
      this.values.set('applied.json', value);
      if (this.appliedLater) return;
      this.appliedLater = setTimeout(() => this.writeAppliedNow(), APPLIED_LAG_MS);
      this.appliedLater.unref();
      return;
    }
    this.writeAppliedNow(value);
  }

  private writeAppliedNow(value = this.values.get('applied.json')): void {
    clearTimeout(this.appliedLater);
    this.appliedLater = undefined;
    this.write('applied.json', value);
  }

  readController(): ControllerFile | null {
    return this.read('controller.json');
  }

  writeController(value: ControllerFile): void {
    this.write('controller.json', value);
  }

  /** Forgets everything: the credential, the desired and applied state (a deleted host's agent). */
  forget(): void {
    this.values.clear();
    this.unwritten.clear();
    this.journal = undefined;
    clearTimeout(this.retry);
    clearTimeout(this.compaction);
    clearTimeout(this.appliedLater);
    this.appliedLater = undefined;
    for (const name of FILES) rmSync(join(this.dir, name), { force: true });
  }

  /** Writes the applied state that waits, then stops retrying (what is not written by now is lost with the process). */
  stop(): void {
    if (this.appliedLater) this.writeAppliedNow();
    clearTimeout(this.retry);
    clearTimeout(this.compaction);
  }

  /** The directory 0700, our files 0600, whatever an older agent or an operator left; stale temporary files go. */
  private tighten(): void {
    const tightened: string[] = [];
    if ((statSync(this.dir).mode & 0o777) !== 0o700) {
      chmodSync(this.dir, 0o700);
      tightened.push('.');
    }
    for (const name of readdirSync(this.dir)) {
      const path = join(this.dir, name);
      if (TEMP.test(name)) rmSync(path, { force: true });
      else if (FILES.includes(name) && lstatSync(path).isFile() && (lstatSync(path).mode & 0o077) !== 0) {
        chmodSync(path, 0o600);
        tightened.push(name);
      }
    }
    if (tightened.length) this.log(`state dir ${this.dir}: tightened ${tightened.join(', ')} (dir 0700, files 0600)`);
  }

  private read<T>(name: string): T | null {
    if (this.values.has(name)) return this.values.get(name) as T;
    try {
      const value = JSON.parse(readFileSync(join(this.dir, name), 'utf8')) as T;
      this.values.set(name, value);
      return value;
    } catch {
      return null;
    }
  }

  private write(name: string, value: unknown): void {
    this.values.set(name, value);
    this.unwritten.add(name);
    this.flush();
  }

  /** Writes every file not written yet; on a failure, tries again later. */
  private flush(): void {
    clearTimeout(this.retry);
    this.retry = undefined;
    let problem: string | null = null;
    for (const name of [...this.unwritten]) {
      try {
        this.writeFile(name, this.values.get(name));
        this.unwritten.delete(name);
      } catch (error) {
        problem = `cannot write ${join(this.dir, name)}: ${message(error)}`;
      }
    }
    if (problem !== this.problem) {
      this.log(problem ? `${problem}; still applying, retrying every ${this.retryMs} ms` : `state dir ${this.dir}: written again`, { level: problem ? 'warn' : 'info' });
      this.problem = problem;
      this.onProblem(problem);
    }
    if (problem) {
      this.retry = setTimeout(() => this.flush(), this.retryMs);
      this.retry.unref();
    }
  }

  private writeFile(name: string, value: unknown): void {
    const target = join(this.dir, name);
    const temp = `${target}.${process.pid}.tmp`;
    // The desired state whole: a new snapshot, whose id voids the lines logged so far.
    const journal = name === 'desired.json' ? randomUUID() : undefined;
    try {
      writeFileSync(temp, JSON.stringify(journal ? { ...(value as DesiredFile), journal } : value), { mode: 0o600 });
      renameSync(temp, target);
    } catch (error) {
      // A partial file would hold on to the space that is short.
      rmSync(temp, { force: true });
      throw error;
    }
    if (journal) {
      this.journal = journal;
      this.logLines = 0;
      clearTimeout(this.compaction);
      try {
        rmSync(join(this.dir, 'desired.log'), { force: true });
      } catch {
        // Its lines are void already (another snapshot id); it goes with the next snapshot.
      }
    }
  }
}

const samePorts = (a: Record<string, string>, b: Record<string, string>): boolean => {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
};

/**
 * The desired state stored in `dir` (the snapshot and the changes logged since; null: none),
 * read without touching anything, with the snapshot's id and how many changes were replayed.
 */
export function readStoredDesired(dir: string): { value: DesiredFile; journal: string; logged: number } | null {
  let snapshot: DesiredFile & { journal?: string };
  try {
    snapshot = JSON.parse(readFileSync(join(dir, 'desired.json'), 'utf8')) as typeof snapshot;
  } catch {
    return null;
  }
  const journal = snapshot.journal ?? '';
  const changes = logged(dir, journal);
  return { value: { revision: changes.at(-1)?.revision ?? snapshot.revision, resources: replay(snapshot.resources, changes) }, journal, logged: changes.length };
}

/** The logged changes of the snapshot `journal`, in order; a line cut short (the last) and what follows a bad one are skipped. */
function logged(dir: string, journal: string): DesiredChange[] {
  let text: string;
  try {
    text = readFileSync(join(dir, 'desired.log'), 'utf8');
  } catch {
    return [];
  }
  const changes: DesiredChange[] = [];
  for (const line of text.split('\n').slice(0, -1)) {
    let entry: DesiredChange & { journal?: string };
    try {
      entry = JSON.parse(line) as DesiredChange & { journal?: string };
    } catch {
      break;
    }
    if (entry.journal === journal) changes.push({ revision: entry.revision, upserts: entry.upserts ?? [], deletes: entry.deletes ?? [] });
  }
  return changes;
}

/** `resources` with `changes` applied in order (deletes, then upserts, each), in the order a channel keeps them. */
function replay(resources: DesiredResource[], changes: readonly DesiredChange[]): DesiredResource[] {
  if (!changes.length) return resources;
  const byKey = new Map(resources.map((r) => [resourceKey(r), r]));
  for (const change of changes) {
    for (const ref of change.deletes) byKey.delete(resourceKey(ref));
    for (const r of change.upserts) byKey.set(resourceKey(r), r);
  }
  return [...byKey.values()];
}
