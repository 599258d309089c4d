/** A process's output, line by line, that can be waited on. */
export class OutputLines {
  readonly lines: string[] = [];
  private readonly waiters = new Set<() => void>();

  push(line: string): void {
    this.lines.push(line);
    for (const waiter of [...this.waiters]) waiter();
  }

  /** The first line from index `since` on matching `pattern`; rejects after `timeoutMs`, naming `what`. */
  waitFor(pattern: RegExp, timeoutMs: number, since: number, what: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const line = this.lines.slice(since).find((l) => pattern.test(l));
        if (line === undefined) return false;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(line);
        return true;
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`no line of ${what} matched ${pattern} within ${timeoutMs} ms; output:\n${this.lines.slice(since).join('\n')}`));
      }, timeoutMs);
      if (!check()) this.waiters.add(check);
    });
  }
}
