import { Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { badInput, ChangeOperation, ErrorCode, NetloomError, providerMappingsOf } from '@netloom/model';
import { AgentCloseCode, HelloMessage, HOST_CREDENTIAL, JoinRequest, JoinResponse } from '@netloom/protocol';
import { hashSecret, newSecret } from '../auth/secrets';
import { ChangesService } from '../changes/changes.service';
import { EndSession, LiveSessions } from '../common/live-sessions';
import { REPLICA_ID } from '../common/replica';
import { findOrFail } from '../common/resource-ops';
import { ControllerConfig } from '../config';
import { Store } from '../database/store';
import { CONTROLLER_CONFIG } from '../database/tokens';
import { Host } from '../hosts/host.entity';
import { ReplicaSyncService } from '../realization/replica-sync.service';
import { HostAgent } from './host-agent.entity';
import { joinVerdict } from './join-window';

/** The database side of agents: joining, credentials and liveness (what they report: `StatusService`). */
@Injectable()
export class AgentsService implements OnApplicationBootstrap {
  /** Open agent channels by host, ended when the host's credential is voided (a deleted host's is drained first: the dispatcher). */
  private readonly channels = new LiveSessions();

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly changes: ChangesService,
    @Inject(CONTROLLER_CONFIG) private readonly config: ControllerConfig,
    private readonly store: Store,
    replicas: ReplicaSyncService,
  ) {
    // A join token reset through another replica voids the credential there: the channel held here ends too.
    replicas.onRevoked((hostId) => this.channels.end(hostId, AgentCloseCode.Unauthorized, 'credential revoked'));
  }

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
    const reset = await this.changes.transact(async (tx) => {
      const { em } = tx;
      const host = await findOrFail(em, Host, hostId, 'id');
      const before = tx.state(host);
      const joinToken = newSecret('nlj');
      host.joinTokenHash = hashSecret(joinToken);
      host.joinTokenUsedAt = null;
      await em.update(Host, host.id, { joinTokenHash: host.joinTokenHash, joinTokenUsedAt: null });
      await em.update(HostAgent, { hostId: host.id }, { credentialHash: null });
      tx.audited(Host.name, host.id, ChangeOperation.UPDATE, before, tx.state(host));
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

  /**
   * The agent said hello on this replica: it holds the channel from now on. Returns whether this
   * replica also held it last (so what it remembers sending the agent is still what the agent
   * has); after a stay on another replica the agent gets a snapshot.
   */
  async connected(hostId: string, hello: HelloMessage): Promise<boolean> {
    return this.changes.transact(async ({ em }) => {
      const before = await em.findOne(HostAgent, { where: { hostId }, select: { hostId: true, controllerId: true } });
      await em.update(HostAgent, hostId, {
        connected: true,
        controllerId: REPLICA_ID,
        lastSeen: new Date(),
        agentVersion: String(hello.agentVersion).slice(0, 64),
        kernel: String(hello.kernel ?? '').slice(0, 128),
        capabilities: (hello.capabilities ?? []).map(String).slice(0, 64),
        plugins: (hello.plugins ?? []).map((p) => `${p.id}@${p.version}`).slice(0, 64),
        providerMappings: providerMappingsOf(hello.providerMappings),
      });
      return before?.controllerId === REPLICA_ID;
    });
  }

  /** The channel this replica held closed; one the agent opened on another replica since is left as it is. */
  async disconnected(hostId: string): Promise<void> {
    await this.changes.transact(({ em }) => em.update(HostAgent, { hostId, controllerId: REPLICA_ID }, { connected: false, lastSeen: new Date() }));
  }

  /**
   * A heartbeat: the agent is alive, and (when it says) whether it can write its state dir. The
   * revision it is known here to have applied is stored too: writes that touched nothing of its
   * host send it nothing, so no ack stores those (other replicas read it from the row).
   */
  async seen(hostId: string, stateError?: unknown, appliedThrough = 0): Promise<void> {
    const trouble = stateError === undefined ? {} : { stateError: typeof stateError === 'string' ? stateError.slice(0, 500) : null };
    await this.changes.transact(async ({ em }) => {
      await em.update(HostAgent, hostId, { lastSeen: new Date(), ...trouble });
      if (appliedThrough > 0) {
        await em
          .createQueryBuilder()
          .update(HostAgent)
          .set({ appliedRevision: appliedThrough })
          .where('host_id = :hostId AND applied_revision < :appliedThrough', { hostId, appliedThrough })
          .execute();
      }
    });
  }

  /**
   * No agent is connected to a controller that just started, when it is the only one (SQLite).
   * Replicas on PostgreSQL leave the rows alone (the others' agents are connected): a row left
   * connected by a replica that died is stale once its agent's heartbeats stop (`presence.ts`).
   */
  async onApplicationBootstrap(): Promise<void> {
    if (this.store.shared) return;
    await this.changes.transact(({ em }) => em.update(HostAgent, { connected: true }, { connected: false }));
  }

  private newAgent(hostId: string): HostAgent {
    return Object.assign(new HostAgent(), {
      hostId,
      credentialHash: null,
      connected: false,
      controllerId: null,
      lastSeen: null,
      appliedRevision: 0,
      agentVersion: null,
      kernel: null,
      capabilities: [],
      plugins: [],
      providerMappings: [],
      stateError: null,
      droppedStatuses: 0,
    });
  }
}

