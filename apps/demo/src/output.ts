/**
 * The demo's printing, which must never end the demo. With `npm start | tee log`, Ctrl-C ends tee
 * too: the next write to stdout fails with EPIPE, and that error, unhandled, ends the process
 * before it has cleaned up. Here a stream that failed is left alone and the run goes on.
 */
export class Output {
  private readonly broken = new Set<NodeJS.WriteStream>();

  constructor() {
    process.stdout.on('error', (error: NodeJS.ErrnoException) => {
      this.broken.add(process.stdout);
      this.warn(`stdout failed (${error.code ?? error.message}): going on without it`);
    });
    process.stderr.on('error', () => this.broken.add(process.stderr));
  }

  /** A line on stdout, unless stdout is gone. */
  say(line: string): void {
    this.write(process.stdout, line);
  }

  /** A line on stderr, unless stderr is gone. */
  warn(line: string): void {
    this.write(process.stderr, line);
  }

  private write(stream: NodeJS.WriteStream, line: string): void {
    if (!this.broken.has(stream) && stream.writable) stream.write(`${line}\n`);
  }
}
