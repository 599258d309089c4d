import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, In } from 'typeorm';
import { badInput, ErrorCode, NetloomError } from '@netloom/model';
import type { ProbeResultMessage } from '@netloom/protocol';
import { AgentProbesService } from '../agents/agent-probes.service';
import { Host } from '../hosts/host.entity';
import { Network } from '../networks/network.entity';
import { PluginResource } from '../plugin-kinds/plugin-resource.entity';
import { IpAllocation } from '../ports/ip-allocation.entity';
import { Port } from '../ports/port.entity';
import { ResourceStatus } from '../realization/resource-status.entity';
import { Subnet } from '../subnets/subnet.entity';
import { TraceInput, TraceProtocol, TracePayload, TraceVerdict, TraceHopKind } from './dto/trace.types';
import { type CounterScope, explainPath, type TraceTarget, TraceInputError, type TraceWorld } from './trace-path';
import { judge, type ScopeCounts } from './trace-verdict';

const DEFAULT_TIMEOUT_MS = 2_000;
/** What an agent gets to answer a read (a few nft processes) beyond the probe's own timeout. */
const ANSWER_MS = 10_000;

export const ATTRIBUTION =
  'rules and members are attributed from counter deltas read just before and after the probe: other traffic through the same rules at the same time moves them too';

interface RouterSpec {
  interfaces?: { subnetId: string; ipAddress?: string | null }[];
  externalNetworkId?: string | null;
  externalAddress?: string | null;
  snat?: boolean | null;
  floatingIps?: { portId: string; address: string }[];
}
interface LoadBalancerSpec {
  subnetId: string;
  vipAddress?: string | null;
  listeners?: { protocol: string; port: number; pool: { members?: { name?: string | null; portId?: string | null; address?: string | null; port: number }[] } }[];
}

/** The destination given, exactly one of three. */
function targetOf(input: TraceInput): TraceTarget {
  const given = [input.toPortId, input.toAddress, input.toLoadBalancerId].filter((v) => v !== undefined && v !== null);
  if (given.length !== 1) throw badInput('give exactly one of toPortId, toAddress, toLoadBalancerId', 'input');
  if (input.toPortId) return { portId: input.toPortId };
  if (input.toLoadBalancerId) return { loadBalancerId: input.toLoadBalancerId };
  return { address: input.toAddress! };
}

/** The probe asked, checked: TCP needs a port, ICMP takes none. */
function probeOf(input: TraceInput): { protocol: 'ICMP' | 'TCP'; port: number | null; timeoutMs: number } {
  const protocol = input.protocol ?? TraceProtocol.ICMP;
  const port = input.port ?? null;
  if (protocol === TraceProtocol.TCP && (port === null || !Number.isInteger(port) || port < 1 || port > 65535)) throw badInput('a TCP trace needs a port 1-65535', 'input.port');
  if (protocol === TraceProtocol.ICMP && port !== null) throw badInput('an ICMP trace takes no port', 'input.port');
  const timeoutMs = input.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isInteger(timeoutMs) || timeoutMs < 100 || timeoutMs > 10_000) throw badInput('timeoutMs must be 100-10000', 'input.timeoutMs');
  return { protocol, port, timeoutMs };
}

/**
 * A trace: the path explained from the intent (see {@link explainPath}), then a real probe from
 * the source port's namespace by its agent, between two reads of the counted nft rules in the
 * namespaces that can decide (see {@link judge}). Writes nothing.
 */
@Injectable()
export class TraceService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly probes: AgentProbesService,
  ) {}

  async trace(input: TraceInput): Promise<TracePayload> {
    const target = targetOf(input);
    const probe = probeOf(input);
    const world = await this.world();
    let plan;
    try {
      plan = explainPath(world, input.fromPortId, target, probe);
    } catch (error) {
      if (!(error instanceof TraceInputError)) throw error;
      throw new NetloomError(error.reason === 'NOT_FOUND' ? ErrorCode.NotFound : ErrorCode.BadUserInput, error.message, error.field);
    }
    const from = world.ports.find((p) => p.id === input.fromPortId)!;
    const hostName = (id: string): string => world.hosts.find((h) => h.id === id)?.name ?? id;
    const portName = (id: string): string | null => world.ports.find((p) => p.id === id)?.name ?? null;
    // The source's agent sends the probe: it must be there. Another host's agent away only leaves
    // its counters unread (the data plane goes on without it), which the answer says.
    this.probes.check(from.hostId, hostName(from.hostId));
    const byHost = new Map<string, CounterScope[]>();
    for (const scope of plan.scopes) byHost.set(scope.hostId, [...(byHost.get(scope.hostId) ?? []), scope]);

    const read = async (): Promise<Map<CounterScope, ProbeResultMessage['counters'][number]>> => {
      const out = new Map<CounterScope, ProbeResultMessage['counters'][number]>();
      await Promise.all(
        [...byHost].map(async ([hostId, scopes]) => {
          const answer = await this.probes
            .ask(hostId, hostName(hostId), { read: scopes.map((s) => ('portId' in s ? { portId: s.portId } : { pluginId: s.pluginId, resourceId: s.resourceId })) }, ANSWER_MS)
            .catch((error: Error): ProbeResultMessage => ({ type: 'probe-result', id: '', counters: [], error: error.message }));
          scopes.forEach((s, i) => out.set(s, answer.counters[i] ?? { error: answer.error ?? 'no answer' }));
        }),
      );
      return out;
    };
    const before = await read();
    const sent = await this.probes.ask(
      from.hostId,
      hostName(from.hostId),
      { read: [], send: { portId: from.id, protocol: probe.protocol === TraceProtocol.TCP ? 'tcp' : 'icmp', address: plan.address, port: probe.port ?? undefined, timeoutMs: probe.timeoutMs } },
      probe.timeoutMs + ANSWER_MS,
    );
    if (sent.error || !sent.sent) throw new NetloomError(ErrorCode.Unavailable, `the agent of host ${hostName(from.hostId)} could not probe: ${sent.error ?? 'no outcome'}`);
    const after = await read();

    const counts: ScopeCounts[] = plan.scopes.map((s) => {
      const [b, a] = [before.get(s), after.get(s)];
      const error = (b && 'error' in b ? b.error : undefined) ?? (a && 'error' in a ? a.error : undefined);
      return {
        portName: 'portId' in s ? portName(s.portId) : null,
        host: hostName(s.hostId),
        before: b && 'packets' in b ? b.packets : undefined,
        after: a && 'packets' in a ? a.packets : undefined,
        error,
      };
    });
    const policies = await this.dataSource.manager.find(PluginResource, { where: { kind: 'FirewallPolicy' }, select: { id: true, name: true } });
    const judged = judge(plan, counts, sent.sent, new Map(policies.map((p) => [p.id, p.name])));
    return {
      verdict: TraceVerdict[judged.verdict],
      summary: judged.summary,
      fromPort: from.name,
      address: plan.address,
      target: plan.target,
      protocol: probe.protocol === 'TCP' ? TraceProtocol.TCP : TraceProtocol.ICMP,
      port: probe.port,
      hops: plan.hops.map((h) => ({ ...h, kind: TraceHopKind[h.kind] })),
      probe: sent.sent,
      rules: judged.rules,
      member: judged.member,
      attribution: ATTRIBUTION,
    };
  }

  /** The intent the explainer reads: every host, network, subnet and port, and the routers and load balancers with where they run. */
  private async world(): Promise<TraceWorld> {
    const em = this.dataSource.manager;
    const [hosts, networks, subnets, ports, allocations, resources] = await Promise.all([
      em.find(Host, { select: { id: true, name: true } }),
      em.find(Network, { select: { id: true, name: true, vni: true, providerInterface: true, vlanId: true } }),
      em.find(Subnet),
      em.find(Port, { select: { id: true, name: true, networkId: true, hostId: true } }),
      em.find(IpAllocation, { select: { portId: true, ipAddress: true } }),
      em.find(PluginResource, { where: { kind: In(['Router', 'LoadBalancer']) } }),
    ]);
    const statuses = resources.length ? await em.find(ResourceStatus, { where: { resourceId: In(resources.map((r) => r.id)) }, select: { hostId: true, resourceId: true, attributes: true } }) : [];
    const hostsOf = (id: string): string[] => statuses.filter((s) => s.resourceId === id).map((s) => s.hostId).sort();
    const ips = new Map<string, string[]>();
    for (const a of allocations) if (a.portId) ips.set(a.portId, [...(ips.get(a.portId) ?? []), a.ipAddress].sort());
    return {
      hosts: hosts.map((h) => ({ id: h.id, name: h.name })),
      networks: networks.map((n) => ({ id: n.id, name: n.name, vni: n.vni, providerInterface: n.providerInterface, vlanId: n.vlanId })),
      subnets: subnets.map((s) => ({ id: s.id, networkId: s.networkId, cidr: s.cidr, gatewayIp: s.gatewayIp })),
      ports: ports.map((p) => ({ id: p.id, name: p.name, networkId: p.networkId, hostId: p.hostId, ips: ips.get(p.id) ?? [] })),
      routers: resources
        .filter((r) => r.kind === 'Router')
        .map((r) => {
          const spec = r.spec as RouterSpec;
          const legs = (spec.interfaces ?? []).map((i) => ({ subnetId: i.subnetId, address: i.ipAddress ?? null }));
          const floatingIps = spec.floatingIps ?? [];
          return { id: r.id, name: r.name, hostIds: hostsOf(r.id), legs, externalNetworkId: spec.externalNetworkId ?? null, externalAddress: spec.externalAddress ?? null, snat: spec.snat !== false, floatingIps };
        }),
      loadBalancers: resources
        .filter((r) => r.kind === 'LoadBalancer')
        .map((r) => {
          const spec = r.spec as unknown as LoadBalancerSpec;
          const listeners = (spec.listeners ?? []).map((l) => ({
            protocol: l.protocol,
            port: l.port,
            members: (l.pool.members ?? []).map((m) => ({ name: m.name ?? null, portId: m.portId ?? null, address: m.address ?? null, port: m.port })),
          }));
          // A DISTRIBUTED one says so on its statuses: it translates on every host, where the client sends.
          const distributed = statuses.some((s) => s.resourceId === r.id && s.attributes?.mode === 'DISTRIBUTED');
          return { id: r.id, name: r.name, hostIds: hostsOf(r.id), distributed, subnetId: spec.subnetId, vip: spec.vipAddress ?? null, listeners };
        }),
    };
  }
}
