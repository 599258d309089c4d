import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { EventEmitter } from 'node:events';
import { ChangeOperation, DesiredResource, ErrorCode, NetloomError, providerMappingsOf, resourceKey, ResourceKind, ResourceRef } from '@netloom/model';
import { AckMessage, AgentCloseCode, type PatchedResource, type SentResource, specChanges, trace } from '@netloom/protocol';
import { ChangesService } from '../changes/changes.service';
import { storeUnavailable } from '../common/graphql-errors';
import { ControllerConfig } from '../config';
import { CONTROLLER_CONFIG } from '../database/tokens';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, In } from 'typeorm';
import { AgentSession } from '../agents/agent-session';
import { HostAgent } from '../agents/host-agent.entity';
import { MetricsService } from '../observability/metrics.service';
import { PluginPlacementService } from '../plugin-kinds/plugin-placement.service';
import { IntentStore, RowChange } from './intent-store';
import { HostDelta, hashOf, PlacementOutcome, Realizer, sizeOf } from './realizer';
import { ReplicaSyncService } from './replica-sync.service';
import { ResourceStatus } from './resource-status.entity';
import { RESOURCE_STATUS_CHANGES, StatusService } from './status.service';
import { describeDropped, screenAck } from './status-screen';

interface Affected {
  revision: number;
  hosts: Set<string>;
}

/** Resources this large as JSON (characters) go to agents that take patches as patches once sent whole. */
export const PATCH_MIN_BYTES = 4_096;

/** A status as far as placements read it: what its host observed of the resource (null: nothing). */
type ObservedStatus = Pick<ResourceStatus, 'hostId' | 'kind' | 'resourceId' | 'observed'>;

/**
 * Keeps every agent's desired state current. After each commit (coalesced), the intent store
 * re-reads the rows the change feed named, the realizer recomputes what they touch, and each
 * connected agent is sent only what changed for it; every agent also learns the new revision, so
 * its applied revision means "up to date through". It remembers which hosts a revision changed,
 * for `wait`. Everything that reads or changes the realized state runs one task at a time.
 */
@Injectable()
export class DispatcherService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('Dispatcher');
  private readonly sessions = new Map<string, AgentSession>();
  /** Sessions sent their first snapshot or delta: only those get updates. */
  private readonly attached = new WeakSet<AgentSession>();
  /** What each host's agent was last sent, kept across its reconnects. */
  private readonly lastSent = new Map<string, { sent: Map<string, string>; revision: number; retired: Map<string, number> }>();
  private readonly store = new IntentStore();
  private readonly realizer: Realizer;
  /** Change-feed entries committed but not yet realized, by kind and id. */
  private readonly pending = new Map<string, { kind: string; id: string }>();
  /** What hosts observed of plugin resources since the last pass, as their plugins keep it for placements, by resource and host. */
  private readonly observedPending = new Map<string, { kind: string; id: string; hostId: string; value: unknown }>();
  private readonly applied = new Map<string, number>();
  private readonly affected: Affected[] = [];
  private readonly events = new EventEmitter();
  private queue: Promise<void> = Promise.resolve();
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
    private readonly replicas: ReplicaSyncService,
    private readonly metrics: MetricsService,
  ) {
    this.events.setMaxListeners(0);
    this.realizer = new Realizer(this.store, (kind) => this.plugins.placerOf(kind), (hostId) => this.inSpan(hostId));
    // Other replicas' agents (a shared store): their acks wake `wait`, their comings and goings
    // change spans, what they observed may change placements.
    this.replicas.onApplied(() => this.events.emit('applied'));
    this.replicas.onPresence(() => void this.flush());
    this.replicas.onStatuses((statuses) => this.noteObserved(statuses));
  }

  async onApplicationBootstrap(): Promise<void> {
    this.changes.onCommit((changes) => {
      for (const change of changes) {
        this.pending.set(`${change.kind}/${change.id}`, { kind: change.kind, id: change.id });
        // At once, before any dispatch: from now on a deleted host's acks touch no stored row.
        const session = this.sessions.get(change.id);
        if (change.kind === ResourceKind.Host && change.operation === ChangeOperation.DELETE && session) this.draining.set(change.id, { session });
      }
      void this.flush();
    });
    // Commits from here on are pending, and re-read after this load: nothing falls between.
    const revision = this.changes.lastRevision;
    await this.run(async () => {
      await this.changes.betweenWrites(() => this.store.loadAll(this.dataSource.manager));
      // What hosts observed before this start, for the placements that read it.
      this.noteObserved(await this.status.withObserved(), false);
      this.takeObserved();
      await this.realizer.rebuild();
      this.flushedRevision = revision;
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
    await this.queue;
  }

  private flushLater(ms: number): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void this.flush();
    }, ms);
    timer.unref();
    this.timers.add(timer);
  }

  /** What the last placement of a plugin resource came to here (each controller places the whole intent). */
  placementOf(resourceId: string): PlacementOutcome | undefined {
    return this.realizer.placementOf(resourceId);
  }

  /** The name prefix the host's agent said in hello, when it is connected here and said one (protocol 1 agents may not). */
  agentPrefix(hostId: string): string | undefined {
    return this.sessions.get(hostId)?.hello?.prefix;
  }

  /** The provider mappings the host's agent said in hello (well-formed ones), when it is connected here; none otherwise. */
  agentProviderMappings(hostId: string): ReadonlyMap<string, string> {
    return new Map(providerMappingsOf(this.sessions.get(hostId)?.hello?.providerMappings).map((m) => [m.physicalNetwork, m.interface]));
  }

  /** Whether the host's agent, connected here, said it can tag VLANs (its `vlan` capability); true when none is. */
  agentTagsVlans(hostId: string): boolean {
    const hello = this.sessions.get(hostId)?.hello;
    return !hello || hello.capabilities.includes('vlan');
  }

  /** A host takes part in other hosts' overlays unless it is gone past the grace period. */
  inSpan(hostId: string): boolean {
    if (this.sessions.get(hostId)?.hello) return true;
    return Date.now() - (this.away.get(hostId) ?? this.startedAt) < this.config.hostGraceMs || this.replicas.inSpanElsewhere(hostId);
  }

  /** Every host, with its agent's state and the newest revision it is known to have applied (0: none since start). */
  hosts(): { hostId: string; state: 'CONNECTED' | 'DISCONNECTED' | 'LOST'; applied: number }[] {
    return [...this.store.hosts.keys()].map((hostId) => ({
      hostId,
      state: this.hostState(hostId),
      applied: Math.max(this.applied.get(hostId) ?? 0, this.replicas.applied(hostId)),
    }));
  }

  /** The newest revision the host is known here to have applied (0: none since start; other replicas' in their rows). */
  appliedRevision(hostId: string): number {
    return this.applied.get(hostId) ?? 0;
  }

  hostState(hostId: string): 'CONNECTED' | 'DISCONNECTED' | 'LOST' {
    if (this.isConnected(hostId) || this.replicas.connectedElsewhere(hostId)) return 'CONNECTED';
    return this.inSpan(hostId) ? 'DISCONNECTED' : 'LOST';
  }

  /** Runs one task on the realized state after the ones before it (a failed one does not stop the next). */
  private run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.queue.then(task);
    this.queue = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  /** Realizes and pushes what was committed; resolves once everything committed so far is dispatched. */
  flush(): Promise<void> {
    if (this.closed || this.flushQueued) return this.flushing;
    this.flushQueued = true;
    this.flushing = this.run(async () => {
      this.flushQueued = false;
      const timer = this.metrics.dispatchSeconds.startTimer();
      try {
        await this.dispatch();
      } catch (error) {
        // The store away is expected (the pass is retried): one line, not a stack.
        const away = storeUnavailable(error);
        if (away) this.logger.warn(`dispatch postponed: ${away.message}`);
        else this.logger.error(`dispatch failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      } finally {
        timer();
      }
    });
    return this.flushing;
  }

  private async dispatch(): Promise<void> {
    const revision = this.changes.lastRevision;
    const named = [...this.pending.values()];
    this.pending.clear();
    let deltas: Map<string, HostDelta | null>;
    try {
      const refreshed = await this.changes.betweenWrites(() => this.store.refresh(this.dataSource.manager, named));
      trace('controller.dispatch.refreshed', revision);
      deltas = await this.realizer.apply([...refreshed, ...this.takeObserved()]);
      trace('controller.dispatch.realized', revision);
    } catch (error) {
      // Not read (the database went away): read again on the next flush.
      for (const n of named) if (!this.pending.has(`${n.kind}/${n.id}`)) this.pending.set(`${n.kind}/${n.id}`, n);
      this.flushLater(1000);
      throw error;
    }
    const changedHosts = new Set<string>();
    for (const [hostId, delta] of deltas) {
      if (delta) {
        if (delta.upserts.length || delta.deletes.length) changedHosts.add(hostId);
        continue;
      }
      this.lastSent.delete(hostId);
      if (this.drain(hostId, revision)) changedHosts.add(hostId);
    }
    const gone: { hostId: string; refs: ResourceRef[] }[] = [];
    for (const session of this.sessions.values()) {
      if (!this.attached.has(session) || this.draining.get(session.hostId)?.session === session) continue;
      gone.push({ hostId: session.hostId, refs: this.sendDelta(session, deltas.get(session.hostId) ?? { upserts: [], deletes: [] }, revision, true) });
      // A host this pass sent nothing is current through it: applied, once it acked what it was sent.
      if (session.appliedThrough > (this.applied.get(session.hostId) ?? 0)) this.applied.set(session.hostId, session.appliedThrough);
    }
    await this.status.forget(gone);
    // What a host no longer has, it no longer observes.
    this.noteObserved(gone.flatMap(({ hostId, refs }) => refs.map((r) => ({ hostId, kind: r.kind, resourceId: r.id, observed: null }))));
    if (changedHosts.size) {
      this.affected.push({ revision, hosts: changedHosts });
      if (this.affected.length > 1000) this.affected.shift();
    }
    this.flushedRevision = revision;
  }

  /**
   * Keeps what hosts observed of plugin resources whose placements read it (their plugin's
   * `observedForPlacement`), for the next pass (started unless `flush` is false): a change
   * re-places the resources that read it, so a member's health checked on one host reaches the
   * placements of every host.
   */
  private noteObserved(statuses: ObservedStatus[], flush = true): void {
    let noted = false;
    for (const s of statuses) {
      const keep = this.plugins.placerOf(s.kind)?.observedForPlacement;
      if (!keep) continue;
      const value = s.observed ? keep(s.observed, s.kind) : undefined;
      const key = `${s.resourceId}/${s.hostId}`;
      // A counter moving changes nothing kept: no pass for it.
      if (!this.observedPending.has(key) && this.store.keeps(s.kind, s.resourceId, s.hostId, value)) continue;
      this.observedPending.set(key, { kind: s.kind, id: s.resourceId, hostId: s.hostId, value });
      noted = true;
    }
    if (noted && flush) void this.flush();
  }

  /** The kept observed values that changed since the last pass, put into the store. */
  private takeObserved(): RowChange[] {
    const changes: RowChange[] = [];
    for (const o of this.observedPending.values()) {
      const change = this.store.observe(o.kind, o.id, o.hostId, o.value);
      if (change) changes.push(change);
    }
    this.observedPending.clear();
    return changes;
  }

  /** One host's desired resources as realized so far (after a flush: through the last commit). */
  async desiredOf(hostId: string): Promise<DesiredResource[]> {
    await this.flush();
    return this.run(() => Promise.resolve(this.realizer.resourcesOf(hostId)));
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

  /**
   * Sends one agent what a pass changed for it (what it lacks of it). Nothing changed: nothing
   * sent when `quiet` (a write elsewhere: the session is current through `revision`), else an
   * empty update that moves its revision (a reconnect, whose hello named an older one). Returns
   * what it was told to delete, whose statuses the caller forgets.
   */
  private sendDelta(session: AgentSession, delta: HostDelta, revision: number, quiet = false): ResourceRef[] {
    const upserts = delta.upserts.filter((r) => session.sent.get(resourceKey(r)) !== hashOf(r));
    const deletes = delta.deletes.filter((key) => session.sent.has(key));
    session.currentThrough = Math.max(session.currentThrough, revision);
    if (!upserts.length && !deletes.length && (quiet || revision === session.sentRevision)) return [];
    session.send({ type: 'update', revision, upserts: upserts.map((r) => this.wire(session, r)), deletes: deletes.map(refOf) });
    for (const r of upserts) session.sent.set(resourceKey(r), hashOf(r));
    for (const key of deletes) {
      session.sent.delete(key);
      session.wholes.delete(key);
    }
    session.sentRevision = revision;
    session.retire(deletes, revision);
    return deletes.map(refOf);
  }

  /**
   * A resource as `session` is sent it whole: to an agent that takes patches, a large one (JSON
   * of {@link PATCH_MIN_BYTES} or more) with its hash, kept as what its next change is a patch of.
   */
  private whole(session: AgentSession, r: DesiredResource): DesiredResource & { hash?: string } {
    const key = resourceKey(r);
    if (!session.takesPatches || sizeOf(r) < PATCH_MIN_BYTES) {
      session.wholes.delete(key);
      return r;
    }
    session.wholes.set(key, r);
    return { ...r, hash: hashOf(r) };
  }

  /**
   * A resource as `session` is sent it in an update: as a patch of the one it was last sent
   * whole or patched on this channel, when that is under half its size (a 500-rule policy with
   * one rule changed: ~80 KB whole, a few hundred bytes patched, for the controller to write and
   * the agent to read and log); else whole ({@link whole}).
   */
  private wire(session: AgentSession, r: DesiredResource): SentResource {
    const before = session.wholes.get(resourceKey(r));
    const sent = this.whole(session, r);
    const changes = before && sent.hash !== undefined ? specChanges(before.spec, r.spec) : undefined;
    if (before && changes) {
      const patched: PatchedResource = { kind: r.kind, id: r.id, generation: r.generation, patch: { base: hashOf(before), hash: hashOf(r), ...changes } };
      if (JSON.stringify(patched.patch).length < sizeOf(r) / 2) return patched;
    }
    return sent;
  }

  /** A session that said hello: a delta when it has what this controller last sent it, else a snapshot. */
  async attach(session: AgentSession, lastRevision: number): Promise<void> {
    const replaced = this.sessions.get(session.hostId);
    if (replaced && replaced !== session) {
      this.detach(replaced);
      replaced.close(4409, 'replaced by a newer connection');
    }
    this.sessions.set(session.hostId, session);
    this.away.delete(session.hostId);
    // A host back from beyond the grace period rejoins the other hosts' spans in this flush.
    await this.flush();
    await this.run(async () => {
      if (this.sessions.get(session.hostId) !== session || !session.open) return;
      const resources = this.realizer.resourcesOf(session.hostId);
      const revision = this.flushedRevision;
      const previous = this.lastSent.get(session.hostId);
      session.retired = new Map(previous?.retired);
      this.attached.add(session);
      if (previous && lastRevision > 0 && previous.revision === lastRevision) {
        session.sent = previous.sent;
        session.sentRevision = previous.revision;
        const keep = new Set(resources.map(resourceKey));
        const refs = this.sendDelta(session, { upserts: resources, deletes: [...session.sent.keys()].filter((key) => !keep.has(key)) }, revision);
        await this.status.forget([{ hostId: session.hostId, refs }]);
        return;
      }
      session.send({ type: 'snapshot', revision, resources: resources.map((r) => this.whole(session, r)) });
      session.sent = new Map(resources.map((r) => [resourceKey(r), hashOf(r)]));
      session.sentRevision = revision;
      session.currentThrough = revision;
      session.retire(previous?.sent.keys() ?? [], revision);
    });
  }

  detach(session: AgentSession): boolean {
    if (this.sessions.get(session.hostId) !== session) return false;
    this.sessions.delete(session.hostId);
    // A deleted host's session is not remembered.
    if (this.store.hosts.has(session.hostId)) this.lastSent.set(session.hostId, { sent: session.sent, revision: session.sentRevision, retired: session.retired });
    this.away.set(session.hostId, Date.now());
    // Past the grace period the host leaves the others' spans (if it has not come back).
    this.flushLater(this.config.hostGraceMs + 10);
    this.events.emit('applied');
    return true;
  }

  isConnected(hostId: string): boolean {
    return this.sessions.get(hostId)?.hello !== undefined;
  }

  /** The host's agent session on this replica, once it said hello. */
  sessionOf(hostId: string): AgentSession | undefined {
    const session = this.sessions.get(hostId);
    return session?.hello ? session : undefined;
  }

  /** Whether the host's agent is connected to another replica. */
  connectedElsewhere(hostId: string): boolean {
    return this.replicas.connectedElsewhere(hostId);
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
    // All it was sent applied: current through the writes since that sent it nothing.
    const through = session.appliedThrough;
    const changed = await this.status.recordAck(session.hostId, through, screened.accepted, message.full === true ? screened.listed : null, screened.droppedTotal);
    this.noteObserved(changed);
    this.applied.set(session.hostId, Math.max(this.applied.get(session.hostId) ?? 0, through));
    for (const status of changed) await this.changes.pubSub.publish(RESOURCE_STATUS_CHANGES, status);
    this.events.emit('applied');
  }

  /** Of these hosts, those with an agent to wait for: connected (here or elsewhere), draining, or joined once. */
  private async joined(hostIds: string[]): Promise<Set<string>> {
    const known = (h: string): boolean => this.sessions.has(h) || this.draining.has(h) || this.replicas.connectedElsewhere(h);
    const ask = hostIds.filter((h) => !known(h));
    const rows = ask.length ? await this.dataSource.getRepository(HostAgent).find({ select: { hostId: true }, where: { hostId: In(ask) } }) : [];
    return new Set([...hostIds.filter(known), ...rows.map((r) => r.hostId)]);
  }

  /**
   * Waits until every host whose desired state changed in (fromRevision, toRevision], and whose
   * agent joined, has applied toRevision, then fails if any reported a failure for those changes.
   */
  async waitApplied(fromRevision: number, toRevision: number, changed: ResourceRef[], timeoutMs: number): Promise<void> {
    if (toRevision <= fromRevision) return;
    await this.flush();
    const hosts = new Set<string>();
    for (const a of this.affected) {
      if (a.revision > fromRevision && a.revision <= Math.max(toRevision, this.flushedRevision)) a.hosts.forEach((h) => hosts.add(h));
    }
    // A host whose agent never joined has nothing to apply it with (it gets it when it joins), as
    // OVN's --wait=hv waits only for chassis that exist: createHost(wait) returns the join token.
    const joined = await this.joined([...hosts]);
    const pending = (): string[] => [...joined].filter((h) => Math.max(this.applied.get(h) ?? 0, this.replicas.applied(h)) < toRevision);
    const deadline = Date.now() + timeoutMs;
    while (pending().length) {
      const left = deadline - Date.now();
      if (left <= 0) {
        const detail = pending()
          .map((h) => `${h} (${this.hostState(h) === 'CONNECTED' ? 'connected' : 'not connected'})`)
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
