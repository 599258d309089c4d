import { type KindDefinition, type ObservedOf, type SpecOf, t } from '@netloom/plugin-sdk';

/** What the API stores for a LoadBalancer: inferred from its schema below (optional fields are null when absent). */
export type LoadBalancerSpec = SpecOf<typeof loadBalancerKind>;
export type ListenerSpec = LoadBalancerSpec['listeners'][number];
export type PoolSpec = ListenerSpec['pool'];
export type MemberSpec = PoolSpec['members'][number];
export type HealthMonitorSpec = NonNullable<PoolSpec['healthMonitor']>;
export type Protocol = ListenerSpec['protocol'];
export type Algorithm = PoolSpec['algorithm'];
/** What the agent half reports per load balancer (its `observed` schema). */
export type LoadBalancerObserved = ObservedOf<typeof loadBalancerKind>;
export type MemberOperatingStatus = LoadBalancerObserved['listeners'][number]['members'][number]['operatingStatus'];

/** Where a load balancer translates: on every host, in the host namespace; or in a namespace of its own on one host. */
export type LbMode = 'DISTRIBUTED' | 'APPLIANCE';

/** What the load balancer's hosts receive: everything resolved to addresses. */
export interface LbPlacement {
  mode: LbMode;
  networkId: string;
  /** The IPv4 subnets of the VIP's network (DISTRIBUTED: translated traffic is routed to them out of its bridge). */
  subnets: string[];
  /** The VIP, plain, and as `vip/prefix` on the leg. */
  vip: string;
  cidr: string;
  /** The VIP subnet's gateway: the default route, for clients behind a router (APPLIANCE) or for the replies of a responder (DISTRIBUTED). */
  gateway: string | null;
  mac: string;
  mtu: number;
  listeners: PlacedListener[];
}

export interface PlacedListener {
  protocol: Protocol;
  port: number;
  algorithm: Algorithm;
  /** Seconds a client keeps its member after its last new connection (SOURCE_IP); null: the hash alone. */
  affinityTimeout: number | null;
  members: PlacedMember[];
  healthMonitor: PlacedMonitor | null;
}

export interface PlacedMember {
  name: string | null;
  portId: string | null;
  address: string;
  port: number;
  weight: number;
  adminUp: boolean;
  /**
   * On another network than the VIP (its port's, or an address in none of the VIP network's
   * subnets): reached through the VIP subnet's {@link LbPlacement.gateway}, as the clients reach it.
   */
  viaGateway?: boolean;
  /** DISTRIBUTED with a health monitor: this host checks the member (it is the host of its port). */
  check?: boolean;
  /**
   * With a health monitor: false once the host checking it (DISTRIBUTED: its port's; APPLIANCE:
   * the appliance's) reported it OFFLINE (absent: ONLINE, as members start). Every DISTRIBUTED
   * host follows it; the checking host starts its checks from it.
   */
  online?: boolean;
}

/**
 * What the controller keeps of one host's observed state of a load balancer (its
 * `observedForPlacement`): whether each member that host checks is ONLINE, by listener and
 * member ({@link memberKey}-like `protocol/port>address:port`).
 */
export type CheckedHealth = Record<string, boolean>;

export interface PlacedMonitor {
  type: 'TCP' | 'HTTP';
  path: string;
  expect: { from: number; to: number }[];
  intervalMs: number;
  timeoutMs: number;
  rise: number;
  fall: number;
}

export const LIMITS = {
  weight: { min: 1, max: 256 },
  membersPerPool: 256,
  listeners: 64,
  intervalMs: { min: 200, max: 3_600_000 },
  timeoutMs: { min: 50 },
  riseFall: { min: 1, max: 10 },
  affinityTimeout: { min: 1, max: 86_400 },
};

const protocol = () => t.enum('Protocol', ['TCP', 'UDP']);
const memberStatus = () =>
  t.enum('MemberOperatingStatus', ['ONLINE', 'OFFLINE', 'DISABLED', 'NO_MONITOR'], {
    typeDescription: 'ONLINE/OFFLINE: by its health monitor; DISABLED: adminUp false; NO_MONITOR: no health monitor, always in the pool.',
  });

export const loadBalancerKind = {
  description:
    'A load balancer: a VIP on a subnet whose listeners spread connections over the healthy members of their pools by nftables DNAT (no proxy in the path). DISTRIBUTED: translated on the client\'s host, members see the client\'s address; APPLIANCE: in a namespace of its own on one host, members see the VIP as the source.',
  fields: {
    mode: t.enum('Mode', ['DISTRIBUTED', 'APPLIANCE'], {
      required: false,
      description:
        'Absent: APPLIANCE when hostId is given, or a health monitor with a member given by address or a member port on another network; DISTRIBUTED otherwise. A DISTRIBUTED load balancer checks each member from the host of its port (members given by portId), and every host takes the result.',
      typeDescription: 'DISTRIBUTED: the VIP is translated on every host, in the host namespace, as the client sends; APPLIANCE: by a namespace of its own on one host.',
    }),
    hostId: t.ref('Host', { required: false, description: 'APPLIANCE: where it runs; absent: the host with the fewest load balancers (ties: the lowest host id).' }),
    subnetId: t.ref('Subnet', { description: 'The subnet of the VIP (IPv4).' }),
    vipAddress: t.ip({ required: false, description: 'The VIP; absent: picked by IPAM from the subnet.' }),
    listeners: t.list(
      t.object('Listener', {
        protocol: protocol(),
        port: t.int({ description: 'The port on the VIP (1-65535); one listener per protocol and port.' }),
        pool: t.object('Pool', {
          algorithm: t.enum('Algorithm', ['ROUND_ROBIN', 'RANDOM', 'SOURCE_IP'], {
            typeDescription: 'ROUND_ROBIN and RANDOM honour weights; SOURCE_IP hashes the client address over the weighted members.',
          }),
          affinityTimeout: t.int({
            required: false,
            description: 'SOURCE_IP only: seconds a client keeps its member after its last new connection, even when the members change (1-86400).',
          }),
          members: t.list(
            t.object('Member', {
              name: t.string({ required: false }),
              portId: t.ref('Port', { required: false, blocksDelete: true, description: "A port (or give address): on the VIP network, or on another one reached through the VIP subnet's gateway (its first IPv4 address). It cannot be deleted while a member." }),
              address: t.ip({ required: false, description: "An address (or give portId): in a subnet of the VIP network, or elsewhere, reached through the VIP subnet's gateway." }),
              port: t.int({ description: 'The port connections are sent to (1-65535).' }),
              weight: t.int({ required: false, description: 'Share of new connections, 1-256 (default 1).' }),
              adminUp: t.boolean({ required: false, description: 'false: takes no new connections (default true).' }),
            }),
          ),
          healthMonitor: t.object(
            'HealthMonitor',
            {
              type: t.enum('HealthMonitorType', ['TCP', 'HTTP']),
              httpPath: t.string({ required: false, description: 'HTTP: the path to GET (default /).' }),
              expectedCodes: t.string({ required: false, description: 'HTTP: accepted status codes, e.g. 200, 200-299 or 200,204 (default 200).' }),
              intervalMs: t.int({ description: 'Between checks of a member (200-3600000).' }),
              timeoutMs: t.int({ description: 'A check fails after this long (50 up to intervalMs).' }),
              rise: t.int({ description: 'Consecutive passes that bring an OFFLINE member back (1-10).' }),
              fall: t.int({ description: 'Consecutive failures that take an ONLINE member out (1-10).' }),
            },
            {
              required: false,
              description:
                'APPLIANCE: checks run on the load balancer’s host, from its namespace. DISTRIBUTED: each member is checked on the host of its port (give members by portId), and every host follows the result.',
            },
          ),
        }),
      }),
    ),
  },
  observed: {
    operatingStatus: t.enum('OperatingStatus', ['ONLINE', 'DEGRADED', 'ERROR'], {
      typeDescription: 'ONLINE: every enabled member is up; DEGRADED: some are down; ERROR: a listener has none up.',
    }),
    listeners: t.list(
      t.object('ListenerObserved', {
        protocol: protocol(),
        port: t.int(),
        members: t.list(
          t.object('MemberObserved', {
            name: t.string({ required: false }),
            portId: t.ref('Port', { required: false }),
            address: t.ip(),
            port: t.int(),
            weight: t.int(),
            operatingStatus: memberStatus(),
            lastCheck: t.string({ required: false, description: 'What the last health check saw (on the host that checks it).' }),
            checked: t.boolean({
              required: false,
              description: "Whether this host checks the member: APPLIANCE, the load balancer's host; DISTRIBUTED, the host of the member's port (the others show what it found).",
            }),
            connections: t.counter({ description: 'Connections sent to it (since its host made the load balancer).' }),
            packets: t.counter({ description: 'Packets of those connections, both ways.' }),
            bytes: t.counter({ description: 'Bytes of those connections, both ways.' }),
          }),
        ),
      }),
    ),
  },
} satisfies KindDefinition;
