import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager, In, IsNull, MoreThan, Not } from 'typeorm';
import { RealizationState, ResourceRef, ResourceStatusReport } from '@netloom/model';
import { HostAgent } from '../agents/host-agent.entity';
import { ChangesService } from '../changes/changes.service';
import { Store } from '../database/store';
import { sanitizeObserved } from '../plugin-kinds/observed';
import { PluginRegistry } from '../plugin-kinds/plugin-registry';
import { PLUGIN_REGISTRY } from '../plugin-kinds/tokens';
import { OwnRanges } from './presence';
import { ResourceStatus } from './resource-status.entity';

export const RESOURCE_STATUS_CHANGES = 'resourceStatusChanges';

interface PendingAck {
  hostId: string;
  revision: number;
  reports: ResourceStatusReport[];
  listed: ReadonlySet<string> | null;
  dropped: number;
  resolve: (changed: ResourceStatus[]) => void;
  reject: (error: unknown) => void;
}
const CHUNK = 200;
/** The columns an ack writes of a status row (the key aside). */
const STATUS_COLUMNS = ['state', 'generation', 'reason', 'attributes', 'observed', 'updated_at', 'seq'] as const;
const MAX_INT32 = 2 ** 31 - 1;

/** What agents reported of the resources they were sent, stored per host and resource. */
@Injectable()
export class StatusService {
  private readonly logger = new Logger('Status');
  /** Set by the replica sync on a shared store: the sequence numbers this process stores. */
  ownSeqs: OwnRanges | undefined;
  /** Acks waiting for their group's transaction (the first one queued starts it). */
  private readonly acks: PendingAck[] = [];

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly changes: ChangesService,
    @Inject(PLUGIN_REGISTRY) private readonly registry: PluginRegistry,
    private readonly store: Store,
  ) {}

  /**
   * Stores what an agent reported (screened: only resources sent to that host), and adds what was
   * dropped to its count. Returns the statuses that changed (state, generation, reason, attributes or
   * observed state), for subscribers. With `listed` (a full ack: every resource it named), statuses of
   * resources it no longer names are dropped. A report without `observed` keeps the stored one;
   * null clears it.
   *
   * Acks are committed in groups: those read in the same turn of the event loop, or that arrive
   * while a write waits for its turn, share one transaction (one commit, one lock on a shared store), as a database's group commit does. When
   * a group's transaction fails, each of its acks is tried alone, so one bad ack fails only itself.
   */
  recordAck(hostId: string, revision: number, reports: ResourceStatusReport[], listed: ReadonlySet<string> | null, dropped: number): Promise<ResourceStatus[]> {
    return new Promise((resolve, reject) => {
      this.acks.push({ hostId, revision, reports, listed, dropped, resolve, reject });
      // After the acks read in this turn of the event loop: an embedded store's transaction runs
      // without yielding (its driver is synchronous), so without this each ack would be alone.
      if (this.acks.length === 1) setImmediate(() => void this.commitAcks());
    });
  }

  private async commitAcks(): Promise<void> {
    let group: PendingAck[] | undefined;
    try {
      const results = await this.storeAcks(() => (group = this.acks.splice(0)));
      group?.forEach((ack, i) => ack.resolve(results[i]));
    } catch (error) {
      // Refused before the acks were taken (the store away): every waiting one fails with it.
      if (!group) return this.acks.splice(0).forEach((ack) => ack.reject(error));
      if (group.length === 1) return group[0].reject(error);
      for (const ack of group) {
        try {
          ack.resolve((await this.storeAcks(() => [ack]))[0]);
        } catch (alone) {
          ack.reject(alone);
        }
      }
    }
  }

  /** One transaction for the acks `take` hands over once the write's turn has come. */
  private async storeAcks(take: () => PendingAck[]): Promise<ResourceStatus[][]> {
    let own: [number, number] | undefined;
    try {
      return await this.changes.transact(async ({ em }) => {
        const results = await this.storeGroup(em, take(), (first, last) => {
          own = [first, last];
          this.ownSeqs?.add(first, last);
        });
        // Other replicas learn the applied revisions and the statuses at COMMIT (PostgreSQL).
        await this.store.announceAck(em);
        return results;
      });
    } catch (error) {
      if (own) this.ownSeqs?.drop(...own);
      throw error;
    }
  }

  /** Stores a group of acks with a few statements for them all; returns what changed, per ack. */
  private async storeGroup(em: EntityManager, acks: PendingAck[], numbered: (first: number, last: number) => void): Promise<ResourceStatus[][]> {
    const existing = await this.storedOf(em, acks);
    const now = new Date();
    const unchangedObserved = new Set<ResourceStatus>();
    const results = acks.map((ack) => this.changedBy(em, ack, existing, now, unchangedObserved));
    // One row per status: should a host ack twice in a group (its channel replaced meanwhile), the later report is kept.
    const changed = [...new Map(results.flat().map((st) => [`${st.hostId}/${st.kind}/${st.resourceId}`, st])).values()];
    if (changed.length) {
      // Under the write lock: numbers in commit order, which other replicas read statuses by.
      const first = (await this.maxSeq(em)) + 1;
      changed.forEach((status, i) => (status.seq = first + i));
      numbered(first, first + changed.length - 1);
    }
    // A row whose observed state stays is written without it (a firewall policy's is tens of KB:
    // written again with every ack of its host, it cost each ack a JSON text and the database pages).
    const kept = changed.filter((st) => unchangedObserved.has(st));
    const moved = changed.filter((st) => !unchangedObserved.has(st));
    for (const [rows, columns] of [
      [moved, STATUS_COLUMNS],
      [kept.map(({ observed: _same, ...row }) => row), STATUS_COLUMNS.filter((c) => c !== 'observed')],
    ] as const) {
      for (let i = 0; i < rows.length; i += CHUNK) {
        // Nothing read back: the rows carry every value (TypeORM re-selects each chunk on SQLite otherwise).
        await em
          .createQueryBuilder()
          .insert()
          .into(ResourceStatus)
          .values(rows.slice(i, i + CHUNK))
          .orUpdate([...columns], ['host_id', 'kind', 'resource_id'])
          .updateEntity(false)
          .execute();
      }
    }
    for (const { hostId, listed } of acks) {
      // A full ack drops the statuses of what it does not list.
      if (!listed) continue;
      const gone = [...existing.values()].filter((s) => s.hostId === hostId && !listed.has(`${s.kind}/${s.resourceId}`));
      await this.deleteStatuses(em, hostId, gone.map((s) => ({ kind: s.kind, id: s.resourceId })));
    }
    const byRevision = new Map<number, string[]>();
    for (const { hostId, revision } of acks) byRevision.set(revision, (byRevision.get(revision) ?? []).concat(hostId));
    for (const [revision, hostIds] of byRevision) {
      await em
        .createQueryBuilder()
        .update(HostAgent)
        .set({ appliedRevision: revision, lastSeen: now })
        .where('host_id IN (:...hostIds) AND applied_revision < :revision', { hostIds, revision })
        .execute();
    }
    for (const { hostId, dropped } of acks) {
      if (dropped <= 0) continue;
      const agent = await em.findOne(HostAgent, { where: { hostId }, select: { hostId: true, droppedStatuses: true } });
      // A counter shown as a GraphQL Int: it stops at the largest one.
      if (agent) await em.update(HostAgent, hostId, { droppedStatuses: Math.min(MAX_INT32, agent.droppedStatuses + dropped) });
    }
    return results;
  }

  /**
   * The stored statuses the acks compare with, keyed host/kind/id: a full ack's whole host, a
   * delta ack's reported resources only (one query for the delta acks of the group).
   */
  private async storedOf(em: EntityManager, acks: PendingAck[]): Promise<Map<string, ResourceStatus>> {
    const rows: ResourceStatus[] = [];
    const full = new Set(acks.filter((a) => a.listed).map((a) => a.hostId));
    for (const hostId of full) rows.push(...(await em.findBy(ResourceStatus, { hostId })));
    const delta = acks.filter((a) => !full.has(a.hostId));
    const hostIds = [...new Set(delta.map((a) => a.hostId))];
    const ids = [...new Set(delta.flatMap((a) => a.reports.map((r) => r.id)))];
    // The kinds too: with them the (kind, resource_id) index finds the rows; with the host ids
    // alone the primary key would read every status of those hosts.
    const kinds = [...new Set(delta.flatMap((a) => a.reports.map((r) => r.kind)))];
    for (let i = 0; i < ids.length && hostIds.length; i += 500) {
      rows.push(...(await em.findBy(ResourceStatus, { kind: In(kinds), resourceId: In(ids.slice(i, i + 500)), hostId: In(hostIds) })));
    }
    return new Map(rows.map((s) => [`${s.hostId}/${s.kind}/${s.resourceId}`, s]));
  }

  /** The statuses an ack changes (state, generation, reason, attributes or observed state), updating `existing`; those whose observed state stays go in `unchangedObserved` too. */
  private changedBy(em: EntityManager, { hostId, reports }: PendingAck, existing: Map<string, ResourceStatus>, now: Date, unchangedObserved: Set<ResourceStatus>): ResourceStatus[] {
    const changed: ResourceStatus[] = [];
    for (const r of reports) {
      const key = `${hostId}/${r.kind}/${r.id}`;
      const before = existing.get(key);
      const reason = r.reason ?? null;
      const kept = r.observed === undefined;
      const observed = kept ? (before?.observed ?? null) : this.sanitizeObserved(hostId, r);
      // Sanitized values are canonical (declared fields, in declaration order), so their JSON compares.
      const sameObserved = kept || JSON.stringify(before?.observed ?? null) === JSON.stringify(observed);
      // Attributes move too (a port's dropped-frame count): compared with keys in order.
      const sameAttributes = canonicalJson(before?.attributes ?? {}) === canonicalJson(r.attributes ?? {});
      if (before && before.state === r.state && before.generation === r.generation && before.reason === reason && sameObserved && sameAttributes) continue;
      const status = em.create(ResourceStatus, {
        hostId,
        kind: r.kind,
        resourceId: r.id,
        state: r.state,
        generation: r.generation,
        reason,
        attributes: r.attributes ?? {},
        observed,
        updatedAt: now,
      });
      // A later ack of the group (the same host again) compares with this one.
      existing.set(key, status);
      changed.push(status);
      if (sameObserved) unchangedObserved.add(status);
    }
    return changed;
  }

  /** The newest status sequence number stored (0: none). */
  async maxSeq(em: EntityManager = this.dataSource.manager): Promise<number> {
    const row = await em.createQueryBuilder(ResourceStatus, 's').select('MAX(s.seq)', 'max').getRawOne<{ max: string | number | null }>();
    return Number(row?.max ?? 0);
  }

  /** Statuses stored after `seq` (by any replica), in store order, at most `limit`. */
  storedAfter(seq: number, limit: number): Promise<ResourceStatus[]> {
    return this.dataSource.getRepository(ResourceStatus).find({ where: { seq: MoreThan(seq) }, order: { seq: 'ASC' }, take: limit });
  }

  /** Every status that carries an observed state (plugin resources'), as far as placements read them. */
  withObserved(): Promise<Pick<ResourceStatus, 'hostId' | 'kind' | 'resourceId' | 'observed'>[]> {
    return this.dataSource.getRepository(ResourceStatus).find({ select: { hostId: true, kind: true, resourceId: true, observed: true }, where: { observed: Not(IsNull()) } });
  }

  /** Forgets the status of resources hosts no longer have (one transaction for them all). */
  async forget(gone: { hostId: string; refs: ResourceRef[] }[]): Promise<void> {
    const some = gone.filter((g) => g.refs.length);
    if (!some.length) return;
    await this.changes.transact(async ({ em }) => {
      for (const { hostId, refs } of some) await this.deleteStatuses(em, hostId, refs);
    });
  }

  async failures(hostIds: string[], refs: ResourceRef[]): Promise<ResourceStatus[]> {
    if (!hostIds.length || !refs.length) return [];
    const rows = await this.dataSource
      .getRepository(ResourceStatus)
      .findBy({ kind: In([...new Set(refs.map((r) => r.kind))]), resourceId: In(refs.map((r) => r.id)), hostId: In(hostIds), state: RealizationState.FAILED });
    return rows;
  }

  /** What is kept of a reported observed state: only what the kind declares (nothing for core kinds). */
  private sanitizeObserved(hostId: string, report: ResourceStatusReport): Record<string, unknown> | null {
    const { observed, problems } = sanitizeObserved(this.registry.kind(report.kind)?.definition.observed, report.observed);
    if (problems.length) {
      const more = problems.length > 3 ? ` (and ${problems.length - 3} more)` : '';
      this.logger.warn(`host ${hostId}, ${report.kind} ${report.id}: ${problems.slice(0, 3).join('; ')}${more}`);
    }
    return observed;
  }

  private async deleteStatuses(em: EntityManager, hostId: string, refs: ResourceRef[]): Promise<void> {
    const byKind = new Map<string, string[]>();
    for (const ref of refs) {
      const ids = byKind.get(ref.kind) ?? [];
      ids.push(ref.id);
      byKind.set(ref.kind, ids);
    }
    for (const [kind, ids] of byKind) {
      for (let i = 0; i < ids.length; i += 500) await em.delete(ResourceStatus, { hostId, kind, resourceId: In(ids.slice(i, i + 500)) });
    }
  }

}

const canonicalJson = (o: Record<string, string>): string => JSON.stringify(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
