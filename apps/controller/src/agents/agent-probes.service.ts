import { randomUUID } from 'node:crypto';
import { Injectable, OnApplicationShutdown } from '@nestjs/common';
import { ErrorCode, NetloomError } from '@netloom/model';
import { PROBE_CAPABILITY, type ProbeMessage, type ProbeResultMessage } from '@netloom/protocol';
import { DispatcherService } from '../realization/dispatcher.service';

interface Pending {
  hostId: string;
  settle: (result: ProbeResultMessage | Error) => void;
}

/**
 * Request and answer over the agent channel: sends a `probe` to a host's agent and resolves with
 * its `probe-result` (matched by id and host), or fails when the agent is away, cannot probe
 * (an older agent), is connected to another replica, or does not answer in time.
 */
@Injectable()
export class AgentProbesService implements OnApplicationShutdown {
  private readonly pending = new Map<string, Pending>();

  constructor(private readonly dispatcher: DispatcherService) {}

  /** Throws unless the host's agent is connected here and can probe. */
  check(hostId: string, hostName: string): void {
    const session = this.dispatcher.sessionOf(hostId);
    if (!session) {
      const where = this.dispatcher.connectedElsewhere(hostId) ? 'is connected to another controller replica (ask that one)' : 'is not connected';
      throw new NetloomError(ErrorCode.Unavailable, `the agent of host ${hostName} ${where}`);
    }
    if (!session.hello?.capabilities.includes(PROBE_CAPABILITY)) throw new NetloomError(ErrorCode.Unavailable, `the agent of host ${hostName} is too old to probe`);
  }

  async ask(hostId: string, hostName: string, request: Omit<ProbeMessage, 'type' | 'id'>, timeoutMs: number): Promise<ProbeResultMessage> {
    this.check(hostId, hostName);
    const id = randomUUID();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => settle(new NetloomError(ErrorCode.Unavailable, `the agent of host ${hostName} did not answer the probe in ${timeoutMs} ms`)), timeoutMs);
      const settle = (result: ProbeResultMessage | Error): void => {
        clearTimeout(timer);
        this.pending.delete(id);
        if (result instanceof Error) reject(result);
        else resolve(result);
      };
      this.pending.set(id, { hostId, settle });
      this.dispatcher.sessionOf(hostId)!.send({ type: 'probe', id, ...request });
    });
  }

  /** An agent's answer: taken only from the host it was asked of. */
  answered(hostId: string, result: ProbeResultMessage): void {
    const pending = this.pending.get(result.id);
    if (pending?.hostId === hostId) pending.settle(result);
  }

  onApplicationShutdown(): void {
    for (const p of [...this.pending.values()]) p.settle(new NetloomError(ErrorCode.Unavailable, 'the controller is stopping'));
  }
}
