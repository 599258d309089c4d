import { BatchResult, IpBatch, Linux } from '@netloom/linux';

/**
 * The files in /run/netns and which of them have a namespace mounted (the others are dead), read
 * cheaply: the directory on every pass, `/proc/self/mountinfo` (a line per mount: 1–2 ms of the
 * kernel's time with 1000 namespaces, far more on a busy machine) only when the directory shows
 * a name not known yet, and at each resync. What the agent's own batches made and removed is
 * known without reading: `ip netns add` mounts the namespace in this agent's mount namespace.
 * A file that dies while known (unmounted by hand) is seen once the owner invalidates the view:
 * the agent does after a pass the kernel refused something in, and at each resync.
 */
export class NetnsView {
  /** Whether each known file has a namespace mounted. */
  private known: Map<string, boolean> | undefined;

  constructor(private readonly linux: Linux) {}

  invalidate(): void {
    this.known = undefined;
  }

  /** The files of /run/netns, and those with a namespace mounted. */
  async read(): Promise<{ files: string[]; mounted: Set<string> }> {
    const files = await this.linux.netnsList();
    let known = this.known;
    if (!known || files.some((name) => !known!.has(name))) {
      const mounted = await this.linux.netnsMounted();
      known = this.known = new Map(files.map((name) => [name, mounted.has(name)]));
    }
    return { files, mounted: new Set(files.filter((name) => known.get(name))) };
  }

  /** What a root batch did, line by line: namespaces it made are mounted, those it removed are gone. */
  ran(batch: IpBatch, result: BatchResult): void {
    const known = this.known;
    if (!known) return;
    const failed = new Set(result.failed.map((f) => f.line));
    batch.lines.forEach((line, i) => {
      if (failed.has(i + 1)) return;
      const [verb, what, name] = line.text.split(' ');
      if (verb !== 'netns' || !name) return;
      if (what === 'add') known.set(name, true);
      else if (what === 'del') known.delete(name);
    });
  }
}
