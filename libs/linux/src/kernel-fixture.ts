// Test support for the kernel specs (not exported from the library): per-run namespace names
// and their removal. Everything a kernel spec creates lives in namespaces it registered here.
import { IpBatch } from './ip-batch';
import { Linux } from './linux';

/** Kernel specs need root; elsewhere they are reported as skipped. */
export const describeKernel: jest.Describe = process.getuid?.() === 0 ? describe : describe.skip;

/** Namespaces of one spec file: `t<pid base36><tag><suffix>`, removed by {@link cleanup}. */
export class NetnsFixture {
  readonly prefix: string;
  private readonly created = new Set<string>();
  // Its own Linux, so cleanup never shows in the log of the instance under test.
  private readonly linux = new Linux();

  constructor(tag: string) {
    this.prefix = `t${process.pid.toString(36)}${tag}`;
  }

  /** A namespace name of this run, registered for cleanup. */
  name(suffix: string): string {
    const name = `${this.prefix}${suffix}`;
    this.created.add(name);
    return name;
  }

  /** Deletes every registered namespace that still exists (their links go with them). */
  async cleanup(): Promise<void> {
    const existing = new Set(await this.linux.netnsList());
    const batch = new IpBatch();
    for (const name of this.created) if (existing.has(name)) batch.netnsDel(name);
    await this.linux.applyIpBatch(batch);
  }

  /** Registered namespaces that still exist (should be none after cleanup). */
  async leftovers(): Promise<string[]> {
    return (await this.linux.netnsList()).filter((n) => this.created.has(n));
  }
}

/** Resolves when `check` returns true, polling every 20 ms; rejects after `timeoutMs`. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
