import type { BatchLine } from './batch';
import { LinuxCommandError } from './runner';
import type { BatchFailure, BatchResult } from './types';

/**
 * `ip -force -batch -` (and `bridge`) print each failed line's error, then a marker naming the
 * file (`-` for stdin) and the 1-based line number:
 *
 *     Cannot find device "nosuch"
 *     Command failed -:4
 *
 * The error may span several lines (or be `RTNETLINK answers: ...`, `Error: ...`). A usage or
 * argument error instead makes `ip` exit on the spot, with no marker: that text is left over.
 */
const MARKER = /^Command failed (.*):(\d+)$/;

/** The failures `-force -batch` reported, plus any text after the last marker. */
export interface ParsedBatchErrors {
  failed: BatchFailure[];
  /** Text after the last marker (warnings excluded): `ip` stopped early if this is not empty. */
  trailing: string;
}

/** Maps `-force -batch` stderr back to the lines (and their keys) that failed. Pure. */
export function parseBatchErrors(stderr: string, lines: readonly BatchLine[]): ParsedBatchErrors {
  const failed: BatchFailure[] = [];
  let pending: string[] = [];
  for (const raw of stderr.split('\n')) {
    const match = MARKER.exec(raw);
    if (!match) {
      if (raw.trim() !== '') pending.push(raw);
      continue;
    }
    const line = Number(match[2]);
    const source = lines[line - 1];
    failed.push({
      line,
      text: source?.text ?? '',
      ...(source?.key !== undefined ? { key: source.key } : {}),
      error: pending.join('\n').trim() || 'failed (no message)',
    });
    pending = [];
  }
  const trailing = pending.filter((l) => !/^Warning:/.test(l)).join('\n').trim();
  return { failed, trailing };
}

/**
 * `ip`/`bridge` stopped before the end of a batch (an argument it could not parse, or a namespace
 * that does not exist): lines up to an unknown point ran. `failed` lists the lines reported
 * before it stopped. Validated builders should never cause this; re-read state before retrying.
 */
export class LinuxBatchAbortedError extends LinuxCommandError {
  constructor(command: string, args: string[], exitCode: number, stderr: string, readonly failed: BatchFailure[]) {
    super(command, args, exitCode, stderr, `${command} ${args.join(' ')} stopped before the end of the batch (exit ${exitCode}): ${stderr.trim().split('\n').slice(-3).join(' | ') || '(no stderr)'}`);
    this.name = 'LinuxBatchAbortedError';
  }
}

/** A batch that could not run to its end: every line counts as failed, since which of them ran is unknown. */
export function wholeBatchFailed(lines: readonly BatchLine[], error: unknown): BatchResult {
  const message = error instanceof Error ? error.message : String(error);
  return { ok: false, failed: lines.map((l, i) => ({ line: i + 1, text: l.text, key: l.key, error: message })) };
}
