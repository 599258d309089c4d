import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager, In } from 'typeorm';
import { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import { badInput, ErrorCode, NetloomError, RealizationState, ResourceRef, ResourceStatusReport } from '@netloom/model';
import { AgentCloseCode, HelloMessage, HOST_CREDENTIAL, JoinRequest, JoinResponse } from '@netloom/protocol';
import { hashSecret, newSecret } from '../auth/secrets';
import { ChangesService } from '../changes/changes.service';
import { EndSession, LiveSessions } from '../common/live-sessions';
import { findOrFail } from '../common/resource-ops';
import { ControllerConfig } from '../config';
import { CONTROLLER_CONFIG } from '../database/tokens';
import { Host } from '../hosts/host.entity';
import { Network } from '../networks/network.entity';
import { sanitizeObserved } from '../plugin-kinds/observed';
import { PluginPlacementService } from '../plugin-kinds/plugin-placement.service';
import { PluginRegistry } from '../plugin-kinds/plugin-registry';
import { PLUGIN_REGISTRY } from '../plugin-kinds/tokens';
import { IpAllocation } from '../ports/ip-allocation.entity';
import { Port } from '../ports/port.entity';
import { Subnet } from '../subnets/subnet.entity';
import { Intent } from './compile';
import { HostAgent } from './host-agent.entity';
import { joinVerdict } from './join-window';
import { ResourceStatus } from './resource-status.entity';

export const RESOURCE_STATUS_CHANGES = 'resourceStatusChanges';
const CHUNK = 200;
const MAX_INT32 = 2 ** 31 - 1;

/** The database side of agents: joining, credentials, liveness, and the statuses they report. */
@Injectable()
export class AgentsService {
  private readonly logger = new Logger('AgentsService');
  /** Open agent channels by host, ended when the host's credential is voided (a deleted host's is drained first: the dispatcher). */
  private readonly channels = new LiveSessions();

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly changes: ChangesService,
    private readonly plugins: PluginPlacementService,
    @Inject(PLUGIN_REGISTRY) private readonly registry: PluginRegistry,
    @Inject(CONTROLLER_CONFIG) private readonly config: ControllerConfig,
  ) {}

  /** Take before authenticating an agent channel; pass to {@link trackChannel}. */
  channelTicket(): number {
    return this.channels.ticket();
  }

  /** Keeps `end` to call when the host's credential is voided; returns the function to call when the channel closes. */
  trackChannel(hostId: string, ticket: number, end: EndSession): () => void {
    return this.channels.track(hostId, ticket, end);
  }

  /**
   * Binds a host credential to the host of a one-time join token: the one the agent made (and
   * stored before posting), or a new one for agents that send none. The same token with the same
   * credential gets the same answer again within the join retry window (see `joinVerdict`).
   */
  join(request: Partial<JoinRequest> | undefined): Promise<JoinResponse> {
    const { joinToken, credential } = request ?? {};
    if (credential !== undefined && (typeof credential !== 'string' || !HOST_CREDENTIAL.test(credential))) {
      throw badInput('credential must be nlh_ followed by 43 base64url characters (256 random bits)', 'credential');
    }
    return this.changes.transact(async ({ em }) => {
      const host = typeof joinToken === 'string' ? await em.findOneBy(Host, { joinTokenHash: hashSecret(joinToken) }) : null;
      const refused = new NetloomError(ErrorCode.Unauthenticated, 'unknown or already used join token');
      if (!host) throw refused;
      const agent = (await em.findOneBy(HostAgent, { hostId: host.id })) ?? this.newAgent(host.id);
      const given = credential === undefined ? null : hashSecret(credential);
      const verdict = joinVerdict({ usedAt: host.joinTokenUsedAt, credentialHash: agent.credentialHash }, given, Date.now(), this.config.joinRetryMs);
      if (verdict === 'refused') throw refused;
      if (verdict === 'retry') return { hostId: host.id, hostName: host.name, credential: credential! };
      // A credential is unique; one already bound elsewhere was not made for this host.
      if (given !== null && (await em.existsBy(HostAgent, { credentialHash: given }))) throw refused;
      const bound = credential ?? newSecret('nlh');
      await em.update(Host, host.id, { joinTokenUsedAt: new Date() });
      agent.credentialHash = hashSecret(bound);
      await em.save(HostAgent, agent);
      return { hostId: host.id, hostName: host.name, credential: bound };
    });
  }

  /**
   * A new join token for a host (its agent lost its credential); the old credential stops
   * working, and once that is committed the agent's open channel is closed.
   */
  async resetJoinToken(hostId: string): Promise<{ host: Host; joinToken: string }> {
    const reset = await this.changes.transact(async ({ em }) => {
      const host = await findOrFail(em, Host, hostId, 'id');
      const joinToken = newSecret('nlj');
      host.joinTokenHash = hashSecret(joinToken);
      host.joinTokenUsedAt = null;
      await em.update(Host, host.id, { joinTokenHash: host.joinTokenHash, joinTokenUsedAt: null });
      await em.update(HostAgent, { hostId: host.id }, { credentialHash: null });
      return { host, joinToken };
    });
    this.channels.end(reset.host.id, AgentCloseCode.Unauthorized, 'credential revoked');
    return reset;
  }

  /** The host a credential belongs to, or null. */
  async authenticate(credential: string | undefined): Promise<string | null> {
    if (!credential) return null;
    const agent = await this.dataSource.getRepository(HostAgent).findOneBy({ credentialHash: hashSecret(credential) });
    return agent?.hostId ?? null;
  }

  async connected(hostId: string, hello: HelloMessage): Promise<void> {
    await this.changes.transact(({ em }) =>
      em.update(HostAgent, hostId, {
        connected: true,
        lastSeen: new Date(),
        agentVersion: String(hello.agentVersion).slice(0, 64),
        kernel: String(hello.kernel ?? '').slice(0, 128),
        capabilities: (hello.capabilities ?? []).map(String).slice(0, 64),
        plugins: (hello.plugins ?? []).map((p) => `${p.id}@${p.version}`).slice(0, 64),
      }),
    );
  }

  async disconnected(hostId: string): Promise<void> {
    await this.changes.transact(({ em }) => em.update(HostAgent, hostId, { connected: false, lastSeen: new Date() }));
  }

  /** A heartbeat: the agent is alive, and (when it says) whether it can write its state dir. */
  async seen(hostId: string, stateError?: unknown): Promise<void> {
    const trouble = stateError === undefined ? {} : { stateError: typeof stateError === 'string' ? stateError.slice(0, 500) : null };
    await this.changes.transact(({ em }) => em.update(HostAgent, hostId, { lastSeen: new Date(), ...trouble }));
  }

  /**
   * Stores what an agent reported (screened: only resources sent to that host), and adds what was
   * dropped to its count. Returns the statuses that changed (state, generation, reason, attributes or
   * observed state), for subscribers. With `listed` (a full ack: every resource it named), statuses of
   * resources it no longer names are dropped. A report without `observed` keeps the stored one;
   * null clears it.
   */
  recordAck(hostId: string, revision: number, reports: ResourceStatusReport[], listed: ReadonlySet<string> | null, dropped: number): Promise<ResourceStatus[]> {
    return this.changes.transact(async ({ em }) => {
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
    });
  }

  /** Forgets the status of resources a host no longer has. */
  async forget(hostId: string, refs: ResourceRef[]): Promise<void> {
    if (refs.length) await this.changes.transact(({ em }) => this.deleteStatuses(em, hostId, refs));
  }

  async failures(hostIds: string[], refs: ResourceRef[]): Promise<ResourceStatus[]> {
    if (!hostIds.length || !refs.length) return [];
    const rows = await this.dataSource
      .getRepository(ResourceStatus)
      .findBy({ hostId: In(hostIds), resourceId: In(refs.map((r) => r.id)), state: RealizationState.FAILED });
    return rows;
  }

  async markAllDisconnected(): Promise<void> {
    await this.changes.transact(({ em }) => em.update(HostAgent, { connected: true }, { connected: false }));
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
    for (const ref of refs) await em.delete(ResourceStatus, { hostId, kind: ref.kind, resourceId: ref.id });
  }

  private newAgent(hostId: string): HostAgent {
    return Object.assign(new HostAgent(), {
      hostId,
      credentialHash: null,
      connected: false,
      lastSeen: null,
      appliedRevision: 0,
      agentVersion: null,
      kernel: null,
      capabilities: [],
      plugins: [],
      stateError: null,
      droppedStatuses: 0,
    });
  }
}

const canonicalJson = (o: Record<string, string>): string => JSON.stringify(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
