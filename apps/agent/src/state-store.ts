import { chmodSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DesiredResource } from '@netloom/model';

export interface DesiredFile {
  revision: number;
  resources: DesiredResource[];
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
  log?: (line: string) => void;
  /** How long to wait before writing again what could not be written. */
  retryMs?: number;
}

/** The controller address the channel last got an answer from (several may be configured). */
export interface ControllerFile {
  address: string;
}

const FILES = ['credential.json', 'desired.json', 'applied.json', 'controller.json'];
const TEMP = /^(credential|desired|applied|controller)\.json\.\d+\.tmp$/;
const message = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/**
 * The agent's state directory (mode 0700, files 0600): its host credential, the last desired
 * state it received (so a restart keeps the data plane when the controller is away), what it
 * applied, and which controller answered last. Files are replaced atomically (write, then rename). A write that fails (disk full,
 * read-only) never stops the agent: the value is kept in memory, read back from there, and
 * written again every `retryMs` until it lands; `problem` says why meanwhile.
 */
export class StateStore {
  /** The newest value of each file, written or not yet. */
  private readonly values = new Map<string, unknown>();
  private readonly unwritten = new Set<string>();
  private retry: NodeJS.Timeout | undefined;
  private readonly retryMs: number;
  private readonly log: (line: string) => void;
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

  readDesired(): DesiredFile | null {
    return this.read('desired.json');
  }

  writeDesired(value: DesiredFile): void {
    this.write('desired.json', value);
  }

  readApplied(): AppliedFile {
    return this.read<AppliedFile>('applied.json') ?? { revision: 0, ports: {} };
  }

  writeApplied(value: AppliedFile): void {
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
    clearTimeout(this.retry);
    for (const name of FILES) rmSync(join(this.dir, name), { force: true });
  }

  /** Stops retrying (what is not written by now is lost with the process). */
  stop(): void {
    clearTimeout(this.retry);
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
      this.log(problem ? `${problem}; still applying, retrying every ${this.retryMs} ms` : `state dir ${this.dir}: written again`);
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
    try {
      writeFileSync(temp, JSON.stringify(value), { mode: 0o600 });
      renameSync(temp, target);
    } catch (error) {
      // A partial file would hold on to the space that is short.
      rmSync(temp, { force: true });
      throw error;
    }
  }
}
