import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { ChangeOperation, DesiredResource, ErrorCode, NetloomError, ResourceKind, ResourceRef, resourceKey } from '@netloom/model';
import { AckMessage, AgentCloseCode } from '@netloom/protocol';
import { ChangesService } from '../changes/changes.service';
import { ControllerConfig } from '../config';
import { CONTROLLER_CONFIG } from '../database/tokens';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AgentSession } from '../agents/agent-session';
import { Host } from '../hosts/host.entity';
import { Network } from '../networks/network.entity';
import { PluginPlacementService } from '../plugin-kinds/plugin-placement.service';
import { IpAllocation } from '../ports/ip-allocation.entity';
import { Port } from '../ports/port.entity';
import { Subnet } from '../subnets/subnet.entity';
import { compileHosts, Intent } from './compile';
import { RESOURCE_STATUS_CHANGES, StatusService } from './status.service';
import { describeDropped, screenAck } from './status-screen';

const hashOf = (r: DesiredResource): string => createHash('sha1').update(JSON.stringify([r.generation, r.spec])).digest('base64');

interface Affected {
  revision: number;
  hosts: Set<string>;
}

/**
 * Keeps every agent's desired state current. After each commit (coalesced), it recompiles the
 * hosts, and sends each connected agent only what changed for it; every agent also learns the
 * new revision, so its applied revision means "up to date through". It remembers which hosts a
 * revision changed, for `wait`.
 */
@Injectable()
export class DispatcherService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('Dispatcher');
  private readonly sessions = new Map<string, AgentSession>();
  /** What each host's agent was last sent, kept across its reconnects. */
  private readonly lastSent = new Map<string, { sent: Map<string, string>; revision: number; retired: Map<string, number> }>();
  /** Each host's compiled desired state, as hashes by resource key. */
  private readonly desired = new Map<string, Map<string, string>>();
  private readonly applied = new Map<string, number>();
  private readonly affected: Affected[] = [];
  private readonly events = new EventEmitter();
  private flushing: Promise<void> = Promise.resolve();
  private flushQueued = false;
  private flushedRevision = 0;

  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;
  /** When each host's agent went away (or the controller started without it). */
  private readonly away = new Map<string, number>();
  private readonly startedAt = Date.now();
  /**
   * Deleted hosts whose agent is still connected: sent an empty desired state, their channel is
   * closed once they ack it (or after the wait timeout). Nothing they send is stored any more.
   */
  private readonly draining = new Map<string, { session: AgentSession; revision?: number; timer?: NodeJS.Timeout }>();

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly status: StatusService,
    private readonly plugins: PluginPlacementService,
    private readonly changes: ChangesService,
    @Inject(CONTROLLER_CONFIG) private readonly config: ControllerConfig,
  ) {
    this.events.setMaxListeners(0);
  }

  async onApplicationBootstrap(): Promise<void> {
    this.changes.onCommit((changes) => {
      // At once, before any dispatch: from now on a deleted host's acks touch no stored row.
      for (const change of changes) {
        const session = this.sessions.get(change.id);
        if (change.kind === ResourceKind.Host && change.operation === ChangeOperation.DELETE && session) this.draining.set(change.id, { session });
      }
      void this.flush();
    });
    await this.flush();
    // Hosts whose agents never come back leave the spans once the grace period is over.
    this.flushLater(this.config.hostGraceMs + 10);
  }

  /** Stops dispatching before the database closes: no timer fires and no flush starts after. */
  async beforeApplicationShutdown(): Promise<void> {
    this.closed = true;
    for (const drain of this.draining.values()) clearTimeout(drain.timer);
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    await this.flushing;
  }

  private flushLater(ms: number): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void this.flush();
    }, ms);
    timer.unref();
    this.timers.add(timer);
  }

  /** A host takes part in other hosts' overlays unless it is gone past the grace period. */
  inSpan(hostId: string): boolean {
    if (this.sessions.get(hostId)?.hello) return true;
    return Date.now() - (this.away.get(hostId) ?? this.startedAt) < this.config.hostGraceMs;
  }

  hostState(hostId: string): 'CONNECTED' | 'DISCONNECTED' | 'LOST' {
    if (this.isConnected(hostId)) return 'CONNECTED';
    return this.inSpan(hostId) ? 'DISCONNECTED' : 'LOST';
  }

  /** Recomputes and pushes desired state; resolves once everything committed so far is dispatched. */
  flush(): Promise<void> {
    if (this.closed || this.flushQueued) return this.flushing;
    this.flushQueued = true;
    this.flushing = this.flushing.then(async () => {
      this.flushQueued = false;
      try {
        await this.dispatch();
      } catch (error) {
        this.logger.error(`dispatch failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      }
    });
    return this.flushing;
  }

  private async dispatch(): Promise<void> {
    const revision = this.changes.lastRevision;
    const compiled = compileHosts(await this.loadIntent(), (h) => this.inSpan(h));
    const changedHosts = new Set<string>();
    for (const hostId of this.desired.keys()) {
      if (compiled.has(hostId)) continue;
      this.desired.delete(hostId);
      this.lastSent.delete(hostId);
      if (this.drain(hostId, revision)) changedHosts.add(hostId);
    }
    for (const [hostId, resources] of compiled) {
      const hashes = new Map(resources.map((r) => [resourceKey(r), hashOf(r)]));
      if (!sameMap(this.desired.get(hostId), hashes)) changedHosts.add(hostId);
      this.desired.set(hostId, hashes);
      const session = this.sessions.get(hostId);
      if (session?.hello) await this.sendDelta(session, resources, revision);
    }
    if (changedHosts.size) {
      this.affected.push({ revision, hosts: changedHosts });
      if (this.affected.length > 1000) this.affected.shift();
    }
    this.flushedRevision = revision;
  }

  /** Everything compiling needs, in five queries, only the columns it uses, and where plugins place their resources. */
  async loadIntent(): Promise<Intent> {
    const em = this.dataSource.manager;
    const [hosts, ports, networks, subnets, allocations] = await Promise.all([
      em.find(Host, { select: { id: true, vtepAddress: true, underlayMtu: true } }),
      em.find(Port, {
        select: { id: true, networkId: true, hostId: true, generation: true, macAddress: true, netns: true, portSecurity: true, allowedAddressPairs: true },
      }),
      em.find(Network, { select: { id: true, generation: true, vni: true, mtu: true } }),
      em.find(Subnet, { select: { id: true, networkId: true, ipVersion: true, cidr: true, gatewayIp: true } }),
      em.find(IpAllocation, { select: { portId: true, subnetId: true, ipAddress: true } }),
    ]);
    const placements = await this.plugins.placeAll();
    return { hosts, ports, networks, subnets, allocations, placements };
  }

  /**
   * A deleted host: its connected agent is sent an empty desired state, so it removes everything
   * it made; `wait` waits for its ack like any host's. Returns whether there is an agent to wait for.
   * An agent that was away finds its credential refused and is cleaned up by `--cleanup`.
   */
  private drain(hostId: string, revision: number): boolean {
    const drain = this.draining.get(hostId);
    if (!drain || drain.revision !== undefined || !drain.session.open) {
      if (drain && drain.revision === undefined) this.draining.delete(hostId);
      return false;
    }
    drain.revision = revision;
    drain.session.send({ type: 'update', revision, upserts: [], deletes: [...drain.session.sent.keys()].map(refOf) });
    drain.session.retire(drain.session.sent.keys(), revision);
    drain.session.sent = new Map();
    drain.session.sentRevision = revision;
    drain.timer = setTimeout(() => this.endDrain(hostId, 'its agent did not confirm in time'), this.config.waitTimeoutMs);
    drain.timer.unref();
    return true;
  }

  private endDrain(hostId: string, how: string): void {
    const drain = this.draining.get(hostId);
    if (!drain) return;
    this.draining.delete(hostId);
    clearTimeout(drain.timer);
    this.logger.log(`host ${hostId} deleted: ${how}; its channel is closed`);
    drain.session.close(AgentCloseCode.HostDeleted, 'host deleted');
  }

  /** Sends one agent what it lacks: upserts of changed resources, deletes of gone ones. */
  private async sendDelta(session: AgentSession, resources: DesiredResource[], revision: number): Promise<void> {
    const upserts = resources.filter((r) => session.sent.get(resourceKey(r)) !== hashOf(r));
    const keep = new Set(resources.map(resourceKey));
    const deletes: ResourceRef[] = [...session.sent.keys()].filter((key) => !keep.has(key)).map(refOf);
    if (!upserts.length && !deletes.length && revision === session.sentRevision) return;
    session.send({ type: 'update', revision, upserts, deletes });
    session.sent = new Map(resources.map((r) => [resourceKey(r), hashOf(r)]));
    session.sentRevision = revision;
    session.retire(deletes.map(resourceKey), revision);
    await this.status.forget(session.hostId, deletes);
  }

  /** A session that said hello: a delta when it has what this controller last sent it, else a snapshot. */
  async attach(session: AgentSession, lastRevision: number): Promise<void> {
    const wasLost = !this.inSpan(session.hostId);
    const replaced = this.sessions.get(session.hostId);
    if (replaced && replaced !== session) {
      this.detach(replaced);
      replaced.close(4409, 'replaced by a newer connection');
    }
    this.sessions.set(session.hostId, session);
    this.away.delete(session.hostId);
    // A host back from beyond the grace period rejoins the other hosts' spans.
    if (wasLost) await this.flush();
    const resources = compileHosts(await this.loadIntent(), (h) => this.inSpan(h)).get(session.hostId) ?? [];
    const revision = this.changes.lastRevision;
    const previous = this.lastSent.get(session.hostId);
    session.retired = new Map(previous?.retired);
    if (previous && lastRevision > 0 && previous.revision === lastRevision) {
      session.sent = previous.sent;
      session.sentRevision = previous.revision;
      await this.sendDelta(session, resources, revision);
      return;
    }
    session.send({ type: 'snapshot', revision, resources });
    session.sent = new Map(resources.map((r) => [resourceKey(r), hashOf(r)]));
    session.sentRevision = revision;
    session.retire(previous?.sent.keys() ?? [], revision);
  }

  detach(session: AgentSession): boolean {
    if (this.sessions.get(session.hostId) !== session) return false;
    this.sessions.delete(session.hostId);
    // A deleted host's session is not remembered.
    if (this.desired.has(session.hostId)) this.lastSent.set(session.hostId, { sent: session.sent, revision: session.sentRevision, retired: session.retired });
    this.away.set(session.hostId, Date.now());
    // Past the grace period the host leaves the others' spans (if it has not come back).
    this.flushLater(this.config.hostGraceMs + 10);
    this.events.emit('applied');
    return true;
  }

  isConnected(hostId: string): boolean {
    return this.sessions.get(hostId)?.hello !== undefined;
  }

  /**
   * Stores an ack: only statuses of resources this host was sent (see `screenAck`), and a
   * revision no newer than the last one sent; what was dropped is counted and logged once.
   */
  async ack(session: AgentSession, message: AckMessage): Promise<void> {
    const revision = Math.min(Math.trunc(message.revision), session.sentRevision);
    const drain = this.draining.get(session.hostId);
    if (drain?.session === session) {
      // A deleted host: nothing stored; its ack of the empty state ends the drain.
      this.applied.set(session.hostId, Math.max(this.applied.get(session.hostId) ?? 0, revision));
      if (drain.revision !== undefined && revision >= drain.revision) this.endDrain(session.hostId, 'its agent removed everything it made');
      this.events.emit('applied');
      return;
    }
    const screened = screenAck(message.statuses, (key) => session.standing(key), session.sent.size + session.retired.size);
    session.acked(revision);
    if (screened.droppedTotal) {
      this.logger.warn(`host ${session.hostId}, ack of revision ${message.revision}: ${describeDropped(screened, message.statuses.length)}`);
    }
    const changed = await this.status.recordAck(session.hostId, revision, screened.accepted, message.full === true ? screened.listed : null, screened.droppedTotal);
    this.applied.set(session.hostId, Math.max(this.applied.get(session.hostId) ?? 0, revision));
    for (const status of changed) await this.changes.pubSub.publish(RESOURCE_STATUS_CHANGES, status);
    this.events.emit('applied');
  }

  /**
   * Waits until every host whose desired state changed in (fromRevision, toRevision] has
   * applied toRevision, then fails if any reported a failure for those changes.
   */
  async waitApplied(fromRevision: number, toRevision: number, changed: ResourceRef[], timeoutMs: number): Promise<void> {
    if (toRevision <= fromRevision) return;
    await this.flush();
    const hosts = new Set<string>();
    for (const a of this.affected) {
      if (a.revision > fromRevision && a.revision <= Math.max(toRevision, this.flushedRevision)) a.hosts.forEach((h) => hosts.add(h));
    }
    const pending = (): string[] => [...hosts].filter((h) => (this.applied.get(h) ?? 0) < toRevision);
    const deadline = Date.now() + timeoutMs;
    while (pending().length) {
      const left = deadline - Date.now();
      if (left <= 0) {
        const detail = pending()
          .map((h) => `${h} (${this.isConnected(h) ? 'connected' : 'not connected'})`)
          .join(', ');
        throw new NetloomError(
          ErrorCode.RealizationTimeout,
          `committed at revision ${toRevision}, but not yet applied after ${timeoutMs} ms on host(s) ${detail}`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, left);
        function done(): void {
          clearTimeout(timer);
          resolve();
        }
        this.events.once('applied', done);
      });
    }
    const failures = await this.status.failures([...hosts], changed);
    if (failures.length) {
      const detail = failures.map((f) => `${f.kind} ${f.resourceId} on host ${f.hostId}: ${f.reason ?? 'failed'}`).join('; ');
      throw new NetloomError(ErrorCode.RealizationFailed, `committed at revision ${toRevision}, but ${detail}`);
    }
  }
}

function refOf(key: string): ResourceRef {
  const [kind, id] = key.split('/');
  return { kind, id };
}

function sameMap(a: Map<string, string> | undefined, b: Map<string, string>): boolean {
  if (!a || a.size !== b.size) return false;
  for (const [k, v] of b) if (a.get(k) !== v) return false;
  return true;
}
