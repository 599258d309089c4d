import { Injectable, Logger } from '@nestjs/common';
import { COUNTERS_CAPABILITY, type PortCountersMessage } from '@netloom/protocol';
import { ResourceKind, resourceKey } from '@netloom/model';
import type { AgentSession } from '../agents/agent-session';
import { PortCounters } from './dto/port-counters.types';
import { HostCounters } from './host-counters';

/**
 * Ports' counters as the agents on this replica's channels send them, in memory per host: they
 * move every few seconds, so they never touch the store. A host's go with its channel.
 */
@Injectable()
export class PortCountersService {
  private readonly logger = new Logger('PortCounters');
  private readonly hosts = new Map<AgentSession, HostCounters>();
  private readonly byHost = new Map<string, HostCounters>();

  /** After hello: an agent that can send counters is asked to. */
  attached(session: AgentSession): void {
    if (!session.hello?.capabilities.includes(COUNTERS_CAPABILITY)) return;
    const counters = new HostCounters();
    this.hosts.set(session, counters);
    this.byHost.set(session.hostId, counters);
    session.send({ type: 'counters-request' });
  }

  received(session: AgentSession, message: PortCountersMessage): void {
    const counters = this.hosts.get(session);
    if (!counters) return;
    const dropped = counters.apply(message, (portId) => session.standing(resourceKey({ kind: ResourceKind.Port, id: portId })));
    if (dropped) this.logger.warn(`host ${session.hostId}: ${dropped} port counter entries dropped (not well formed, or not a port of this host)`);
  }

  closed(session: AgentSession): void {
    const counters = this.hosts.get(session);
    this.hosts.delete(session);
    if (counters && this.byHost.get(session.hostId) === counters) this.byHost.delete(session.hostId);
  }

  /** A port's counters on its host, when this replica holds that host's channel and heard of the port. */
  of(hostId: string, portId: string): PortCounters | null {
    const counters = this.byHost.get(hostId);
    const entry = counters?.get(portId);
    if (!counters?.updatedAt || !entry) return null;
    return {
      hostId,
      updatedAt: counters.updatedAt,
      rxPackets: entry.rxPackets,
      rxBytes: entry.rxBytes,
      rxDropped: entry.rxDropped,
      rxErrors: entry.rxErrors,
      txPackets: entry.txPackets,
      txBytes: entry.txBytes,
      txDropped: entry.txDropped,
      txErrors: entry.txErrors,
      droppedSpoofedPackets: entry.droppedSpoofedPackets ?? null,
    };
  }
}
