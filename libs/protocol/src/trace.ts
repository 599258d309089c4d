/**
 * A benchmark-only trace of where one change's time goes on its way from the controller's commit
 * through the agent's pass to the ack that ends `wait`. Off unless the environment has
 * `NETLOOM_TRACE=1` when the process starts; then each point writes one line to stderr:
 *
 *     NETLOOM_TRACE <epoch ms, to the microsecond> <point> <revision>[ <detail>]
 *
 * The time is `performance.timeOrigin + performance.now()`, so lines of the controller and of the
 * agents on one machine compare. Off, a point costs one boolean test.
 */
export const TRACE_ENABLED = process.env.NETLOOM_TRACE === '1';

const PREFIX = 'NETLOOM_TRACE';

/** Now, in epoch milliseconds with sub-millisecond precision (the clock trace lines use). */
export const traceNow = (): number => performance.timeOrigin + performance.now();

let pending: string[] = [];
const flush = (): void => {
  const lines = pending.join('');
  pending = [];
  process.stderr.write(lines);
};
if (TRACE_ENABLED) process.on('exit', () => pending.length > 0 && flush());

/**
 * Writes one trace line when tracing is on. `detail` is free text on one line (no user input).
 * The lines of one turn of the event loop go out in one write after it (a write to a pipe is a
 * system call that wakes the reader: one per point cost a controller ~10% of its time), each
 * stamped when its point was reached.
 */
export function trace(point: string, revision: number, detail?: string): void {
  if (!TRACE_ENABLED) return;
  if (pending.push(`${PREFIX} ${traceNow().toFixed(3)} ${point} ${revision}${detail ? ` ${detail.replace(/\n/g, ' ')}` : ''}\n`) === 1) setImmediate(flush);
}

export interface TracePoint {
  at: number;
  point: string;
  revision: number;
  detail: string;
}

/** Every trace line in `text` (other lines, and lines split across chunks, are skipped). */
export function parseTrace(text: string): TracePoint[] {
  const out: TracePoint[] = [];
  for (const line of text.split('\n')) {
    const m = /^NETLOOM_TRACE (\d+(?:\.\d+)?) (\S+) (-?\d+)(?: (.*))?$/.exec(line.trim());
    if (m) out.push({ at: Number(m[1]), point: m[2], revision: Number(m[3]), detail: m[4] ?? '' });
  }
  return out;
}
