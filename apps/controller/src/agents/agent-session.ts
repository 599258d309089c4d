import { Logger } from '@nestjs/common';
import WebSocket from 'ws';
import type { DesiredResource } from '@netloom/model';
import { ControllerMessage, HEARTBEAT_MS, HelloMessage, SPEC_PATCH_CAPABILITY, trace } from '@netloom/protocol';
import { closeSocket } from '../common/live-sessions';
import { KeyStanding } from '../realization/status-screen';

/** Deleted keys remembered per host at most (the oldest go first). */
const MAX_RETIRED = 10_000;

/** One connected agent: its socket, what it said in hello, and what it has been sent. */
export class AgentSession {
  hello: HelloMessage | undefined;
  /** Hash of each desired resource as last sent to this agent, by resource key. */
  sent = new Map<string, string>();
  /** Large resources as last sent on this channel to an agent that takes patches: what the next change of each is a patch of. */
  readonly wholes = new Map<string, DesiredResource>();
  sentRevision = 0;
  /** The newest revision this agent acked. */
  ackedRevision = 0;
  /**
   * The newest revision dispatched at which this host's desired state was still what it was last
   * sent: writes that touch nothing of it are not sent (no wake-up, no pass), it is current through them.
   */
  currentThrough = 0;
  /**
   * Keys deleted from this host, with the revision that deleted them, until the agent acks that
   * revision: its statuses for them until then are stale, not hostile.
   */
  retired = new Map<string, number>();
  private lastHeard = Date.now();
  private readonly timer: NodeJS.Timeout;

  constructor(
    readonly hostId: string,
    private readonly socket: WebSocket,
    private readonly logger: Logger,
    onSilent: () => void,
  ) {
    this.timer = setInterval(() => {
      if (Date.now() - this.lastHeard > 3 * HEARTBEAT_MS) {
        onSilent();
        return;
      }
      this.send({ type: 'heartbeat', revision: this.sentRevision });
    }, HEARTBEAT_MS);
    this.timer.unref();
  }

  /** Whether its hello said it takes large resources as patches ({@link SPEC_PATCH_CAPABILITY}). */
  get takesPatches(): boolean {
    return this.hello?.capabilities.includes(SPEC_PATCH_CAPABILITY) ?? false;
  }

  /** False once either side started closing: what the agent still sends is not taken. */
  get open(): boolean {
    return this.socket.readyState === WebSocket.OPEN;
  }

  /** Notes what was just sent: `keys` deleted at `revision`, and the host's resources now. */
  retire(keys: Iterable<string>, revision: number): void {
    for (const key of keys) {
      this.retired.delete(key); // re-inserted last: the map stays in revision order
      this.retired.set(key, revision);
    }
    for (const key of this.sent.keys()) this.retired.delete(key);
    for (const key of this.retired.keys()) {
      if (this.retired.size <= MAX_RETIRED) break;
      this.retired.delete(key);
    }
  }

  /** What a key of an ack is to this host. */
  standing(key: string): KeyStanding {
    if (this.sent.has(key)) return 'sent';
    return this.retired.has(key) ? 'retired' : undefined;
  }

  /**
   * The newest revision this host is known to have applied: once it acked all it was sent, every
   * revision since that sent it nothing (0 before a first ack).
   */
  get appliedThrough(): number {
    return this.ackedRevision >= this.sentRevision ? Math.max(this.ackedRevision, this.currentThrough) : this.ackedRevision;
  }

  /** The agent applied `revision`: deletes up to it are behind it. */
  acked(revision: number): void {
    this.ackedRevision = Math.max(this.ackedRevision, revision);
    for (const [key, deletedAt] of this.retired) {
      if (deletedAt > revision) break;
      this.retired.delete(key);
    }
  }

  heard(): void {
    this.lastHeard = Date.now();
  }

  send(message: ControllerMessage): void {
    if (this.socket.readyState !== WebSocket.OPEN) return;
    if (message.type === 'snapshot' || message.type === 'update') trace('controller.update.sent', message.revision);
    this.socket.send(JSON.stringify(message), (error) => {
      if (error) this.logger.warn(`send to host ${this.hostId} failed: ${error.message}`);
    });
  }

  close(code: number, reason: string): void {
    clearInterval(this.timer);
    closeSocket(this.socket, code, reason);
  }

  stopTimers(): void {
    clearInterval(this.timer);
  }
}
