import { Logger } from '@nestjs/common';
import WebSocket from 'ws';
import { ControllerMessage, HEARTBEAT_MS, HelloMessage } from '@netloom/protocol';

/** One connected agent: its socket, what it said in hello, and what it has been sent. */
export class AgentSession {
  hello: HelloMessage | undefined;
  /** Hash of each desired resource as last sent to this agent, by resource key. */
  sent = new Map<string, string>();
  sentRevision = 0;
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

  heard(): void {
    this.lastHeard = Date.now();
  }

  send(message: ControllerMessage): void {
    if (this.socket.readyState !== WebSocket.OPEN) return;
    this.socket.send(JSON.stringify(message), (error) => {
      if (error) this.logger.warn(`send to host ${this.hostId} failed: ${error.message}`);
    });
  }

  close(code: number, reason: string): void {
    clearInterval(this.timer);
    if (this.socket.readyState === WebSocket.OPEN || this.socket.readyState === WebSocket.CONNECTING) {
      this.socket.close(code, reason);
    }
  }

  stopTimers(): void {
    clearInterval(this.timer);
  }
}
