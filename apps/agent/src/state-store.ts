import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
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

/**
 * The agent's state directory: its host credential, the last desired state it received (so a
 * restart keeps the data plane when the controller is away) and what it applied. Files are
 * replaced atomically (write, then rename).
 */
export class StateStore {
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  readCredential(): { hostId: string; credential: string } | null {
    return this.read('credential.json');
  }

  writeCredential(value: { hostId: string; credential: string }): void {
    this.write('credential.json', value, 0o600);
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

  private read<T>(name: string): T | null {
    try {
      return JSON.parse(readFileSync(join(this.dir, name), 'utf8')) as T;
    } catch {
      return null;
    }
  }

  private write(name: string, value: unknown, mode = 0o644): void {
    const target = join(this.dir, name);
    const temp = `${target}.${process.pid}.tmp`;
    writeFileSync(temp, JSON.stringify(value), { mode });
    renameSync(temp, target);
  }
}
