import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { EventEmitter } from 'node:events';
import { DataSource } from 'typeorm';
import { HostAgent } from '../agents/host-agent.entity';
import { ChangesService } from '../changes/changes.service';
import { REPLICA_ID } from '../common/replica';
import { ControllerConfig } from '../config';
import { Store } from '../database/store';
import { CONTROLLER_CONFIG } from '../database/tokens';
import { AgentPresence, connectedElsewhere, inSpanElsewhere, OwnRanges } from './presence';
import { RESOURCE_STATUS_CHANGES, StatusService } from './status.service';
import { ResourceStatus } from './resource-status.entity';

/** How often the store is read when no NOTIFY woke the sync (the safety net, and time-based presence changes). */
export const REPLICA_POLL_MS = 1_000;
const PAGE = 1000;

/**
 * What this replica learns of the agents other replicas serve, on a shared store (PostgreSQL):
 * their applied revisions (for `wait`), whether and where they are connected (agent state, the
 * overlay spans) and the statuses those replicas stored (published on `resourceStatusChanges`
 * here too). Read from `host_agents` and from `resource_statuses` by sequence number, whenever
 * another replica's ack commits (NOTIFY) and every second. On SQLite (one controller) it does
 * nothing and knows nothing: every agent is this process's.
 */
@Injectable()
export class ReplicaSyncService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('ReplicaSync');
  private readonly events = new EventEmitter();
  private agents = new Map<string, AgentPresence>();
  /** Each host's credential hash as last read: one that changes was voided (a join token reset on any replica). */
  private credentials = new Map<string, string | null>();
  private presenceKey = '';
  private statusCursor = 0;
  private readonly own = new OwnRanges();
  private refreshing: Promise<void> = Promise.resolve();
  private refreshQueued = false;
  private failing = false;
  private poller: NodeJS.Timeout | undefined;
  private unwatch: (() => Promise<void>) | undefined;
  private closed = false;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly store: Store,
    private readonly status: StatusService,
    private readonly changes: ChangesService,
    @Inject(CONTROLLER_CONFIG) private readonly config: ControllerConfig,
  ) {
    this.events.setMaxListeners(0);
  }

  async onApplicationBootstrap(): Promise<void> {
    if (!this.store.shared) return;
    this.status.ownSeqs = this.own;
    this.statusCursor = await this.status.maxSeq();
    await this.refresh();
    this.unwatch = this.store.watch(() => void this.refresh(), 'acks');
    this.poller = setInterval(() => void this.refresh(), REPLICA_POLL_MS);
    this.poller.unref();
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.closed = true;
    clearInterval(this.poller);
    await this.unwatch?.();
    await this.refreshing;
  }

  /** A host's applied revision as stored by whichever replica serves it (0 when unknown). */
  applied(hostId: string): number {
    return this.agents.get(hostId)?.appliedRevision ?? 0;
  }

  connectedElsewhere(hostId: string): boolean {
    return connectedElsewhere(this.agents.get(hostId), REPLICA_ID, Date.now());
  }

  inSpanElsewhere(hostId: string): boolean {
    return inSpanElsewhere(this.agents.get(hostId), REPLICA_ID, Date.now(), this.config.hostGraceMs);
  }

  /** Another replica's agent applied a newer revision. */
  onApplied(listener: () => void): void {
    this.events.on('applied', listener);
  }

  /** Whether (or where) another replica's agents are connected or in span changed: desired states may differ. */
  onPresence(listener: () => void): void {
    this.events.on('presence', listener);
  }

  /** Statuses other replicas stored (each page, in store order). */
  onStatuses(listener: (statuses: ResourceStatus[]) => void): void {
    this.events.on('statuses', listener);
  }

  /** A host's credential was voided, maybe through another replica: a channel this one holds for it must end. */
  onRevoked(listener: (hostId: string) => void): void {
    this.events.on('revoked', listener);
  }

  /** Reads what other replicas stored; calls made while one waits to run merge into it. */
  refresh(): Promise<void> {
    if (this.closed || this.refreshQueued) return this.refreshing;
    this.refreshQueued = true;
    this.refreshing = this.refreshing.then(async () => {
      this.refreshQueued = false;
      try {
        await this.readAgents();
        await this.readStatuses();
        if (this.failing) this.logger.log('reading other replicas’ agents again');
        this.failing = false;
      } catch (error) {
        if (!this.failing) this.logger.warn(`cannot read other replicas’ agents (${error instanceof Error ? error.message : String(error)}); retrying`);
        this.failing = true;
      }
    });
    return this.refreshing;
  }

  private async readAgents(): Promise<void> {
    const rows = await this.dataSource.getRepository(HostAgent).find({
      select: { hostId: true, connected: true, controllerId: true, lastSeen: true, appliedRevision: true, credentialHash: true },
    });
    const before = this.agents;
    this.agents = new Map(rows.map((r) => [r.hostId, r]));
    const credentials = this.credentials;
    this.credentials = new Map(rows.map((r) => [r.hostId, r.credentialHash]));
    for (const r of rows) {
      const was = credentials.get(r.hostId);
      if (was && was !== r.credentialHash) this.events.emit('revoked', r.hostId);
    }
    if (rows.some((r) => r.appliedRevision > (before.get(r.hostId)?.appliedRevision ?? 0))) this.events.emit('applied');
    const now = Date.now();
    const key = rows
      .map((r) => `${r.hostId}:${connectedElsewhere(r, REPLICA_ID, now) ? 'c' : ''}${inSpanElsewhere(r, REPLICA_ID, now, this.config.hostGraceMs) ? 's' : ''}`)
      .sort()
      .join(',');
    if (key !== this.presenceKey) {
      const first = this.presenceKey === '';
      this.presenceKey = key;
      if (!first) this.events.emit('presence');
    }
  }

  /** Statuses other replicas stored since the last read, published here in store order. */
  private async readStatuses(): Promise<void> {
    for (;;) {
      const page = await this.status.storedAfter(this.statusCursor, PAGE);
      const others = page.filter((status) => !this.own.has(status.seq));
      for (const status of others) await this.changes.pubSub.publish(RESOURCE_STATUS_CHANGES, status);
      if (others.length) this.events.emit('statuses', others);
      if (!page.length) return;
      this.statusCursor = page[page.length - 1].seq;
      this.own.pruneThrough(this.statusCursor);
      if (page.length < PAGE) return;
    }
  }
}
