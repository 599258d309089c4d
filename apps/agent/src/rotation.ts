const FIRST_DELAY_MS = 250;
const MAX_DELAY_MS = 5_000;

/**
 * Which of several controller addresses the agent dials, and after how long. It starts with the
 * one that worked last (when known) and stays there while it answers; when it goes away (closed,
 * refused, silent) or cannot be reached, the next one is dialled, round the list. The delay
 * doubles from 250 ms to 5 s with each failure in a row, whichever address failed, and starts over
 * once one answers.
 */
export class ControllerRotation {
  private index: number;
  private failures = 0;

  constructor(
    readonly addresses: readonly string[],
    preferred?: string,
  ) {
    if (!addresses.length) throw new Error('no controller address');
    this.index = Math.max(0, preferred === undefined ? 0 : addresses.indexOf(preferred));
  }

  get current(): string {
    return this.addresses[this.index];
  }

  /** The current address answered: from now on it is the one that worked last; the backoff starts over. */
  worked(): void {
    this.failures = 0;
  }

  /** The current address went away or could not be reached: moves to the next; returns how long to wait before dialling it. */
  failed(): number {
    this.index = (this.index + 1) % this.addresses.length;
    return Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** Math.min(this.failures++, 5));
  }
}
