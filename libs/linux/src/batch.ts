import { assertNetnsName } from './names';

/** One line of a batch, with the resource it serves (so a failure maps back to it). */
export interface BatchLine {
  text: string;
  key?: string;
}

/** What every `-batch` builder shares: validated lines, in order, for one namespace. */
export abstract class Batch {
  /** The lines so far, in order; line N of the batch is `lines[N - 1]`. */
  readonly lines: BatchLine[] = [];

  /** @param netns the namespace the batch runs in; undefined = the agent's own namespace. */
  constructor(readonly netns?: string) {
    if (netns !== undefined) assertNetnsName(netns);
  }

  /** Number of lines. */
  get length(): number {
    return this.lines.length;
  }

  /** The batch as the command reads it on stdin. */
  toString(): string {
    return this.lines.map((l) => `${l.text}\n`).join('');
  }

  protected push(text: string, key?: string): this {
    this.lines.push(key === undefined ? { text } : { text, key });
    return this;
  }
}
