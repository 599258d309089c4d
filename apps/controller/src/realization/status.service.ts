import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager, In, MoreThan } from 'typeorm';
import { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
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
   * Acks are committed in groups: those that arrive while a write waits for its turn share one
   * transaction (one commit, one lock on a shared store), as a database's group commit does. When
   * a group's transaction fails, each of its acks is tried alone, so one bad ack fails only itself.
   */
  recordAck(hostId: string, revision: number, reports: ResourceStatusReport[], listed: ReadonlySet<string> | null, dropped: number): Promise<ResourceStatus[]> {
    return new Promise((resolve, reject) => {
      this.acks.push({ hostId, revision, reports, listed, dropped, resolve, reject });
      if (this.acks.length === 1) void this.commitAcks();
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
    const own: [number, number][] = [];
    try {
      return await this.changes.transact(async ({ em }) => {
        const results: ResourceStatus[][] = [];
        for (const ack of take()) {
          results.push(
            await this.storeAck(em, ack, (first, last) => {
              own.push([first, last]);
              this.ownSeqs?.add(first, last);
            }),
          );
        }
        // Other replicas learn the applied revisions and the statuses at COMMIT (PostgreSQL).
        await this.store.announceAck(em);
        return results;
      });
    } catch (error) {
      for (const range of own) this.ownSeqs?.drop(...range);
      throw error;
    }
  }

  private async storeAck(
    em: EntityManager,
    { hostId, revision, reports, listed, dropped }: PendingAck,
    numbered: (first: number, last: number) => void,
  ): Promise<ResourceStatus[]> {
    // A delta ack compares only what it reports; a full one also drops what it does not list.
    const rows = listed ? await em.findBy(ResourceStatus, { hostId }) : await this.statusesOf(em, hostId, reports.map((r) => r.id));
    const existing = new Map(rows.map((s) => [`${s.kind}/${s.resourceId}`, s]));
    const now = new Date();
    const changed: ResourceStatus[] = [];
    for (const r of reports) {
      const before = existing.get(`${r.kind}/${r.id}`);
      const reason = r.reason ?? null;
      const observed = r.observed === undefined ? (before?.observed ?? null) : this.sanitizeObserved(hostId, r);
      // Sanitized values are canonical (declared fields, in declaration order), so their JSON compares.
      const sameObserved = JSON.stringify(before?.observed ?? null) === JSON.stringify(observed);
      // Attributes move too (a port's dropped-frame count): compared with keys in order.
      const sameAttributes = canonicalJson(before?.attributes ?? {}) === canonicalJson(r.attributes ?? {});
      if (before && before.state === r.state && before.generation === r.generation && before.reason === reason && sameObserved && sameAttributes) continue;
      changed.push(
        em.create(ResourceStatus, {
          hostId,
          kind: r.kind,
          resourceId: r.id,
          state: r.state,
          generation: r.generation,
          reason,
          attributes: r.attributes ?? {},
          observed,
          updatedAt: now,
        }),
      );
    }
    if (changed.length) {
      // Under the write lock: numbers in commit order, which other replicas read statuses by.
      const first = (await this.maxSeq(em)) + 1;
      changed.forEach((status, i) => (status.seq = first + i));
      numbered(first, first + changed.length - 1);
    }
    for (let i = 0; i < changed.length; i += CHUNK) {
      await em.upsert(ResourceStatus, changed.slice(i, i + CHUNK) as QueryDeepPartialEntity<ResourceStatus>[], ['hostId', 'kind', 'resourceId']);
    }
    if (listed) {
      const gone = [...existing.entries()].filter(([key]) => !listed.has(key)).map(([, s]) => s);
      await this.deleteStatuses(em, hostId, gone.map((s) => ({ kind: s.kind, id: s.resourceId })));
    }
    await em
      .createQueryBuilder()
      .update(HostAgent)
      .set({ appliedRevision: revision, lastSeen: now })
      .where('host_id = :hostId AND applied_revision < :revision', { hostId, revision })
      .execute();
    if (dropped > 0) {
      const agent = await em.findOne(HostAgent, { where: { hostId }, select: { hostId: true, droppedStatuses: true } });
      // A counter shown as a GraphQL Int: it stops at the largest one.
      if (agent) await em.update(HostAgent, hostId, { droppedStatuses: Math.min(MAX_INT32, agent.droppedStatuses + dropped) });
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
      .findBy({ hostId: In(hostIds), resourceId: In(refs.map((r) => r.id)), state: RealizationState.FAILED });
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

  private async statusesOf(em: EntityManager, hostId: string, ids: string[]): Promise<ResourceStatus[]> {
    const out: ResourceStatus[] = [];
    for (let i = 0; i < ids.length; i += 500) out.push(...(await em.findBy(ResourceStatus, { hostId, resourceId: In(ids.slice(i, i + 500)) })));
    return out;
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
