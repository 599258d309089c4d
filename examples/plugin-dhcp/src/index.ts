import { badInput, conflict, deriveMac, definePlugin, type PluginStatus, RealizationState, reconcileAppliances, type SpecOf, subnetContaining, t } from '@netloom/plugin-sdk';

/** The DHCP server's program; the operator allows it on each agent (`--daemon-allow /usr/sbin/dnsmasq`). */
export const DNSMASQ = '/usr/sbin/dnsmasq';
/** The server's interface in its namespace. */
const LEG = 'dh0';

/** What the server's host receives. */
export interface DhcpPlacement {
  networkId: string;
  /** The server's own address, `address/prefix`. */
  cidr: string;
  /** Its leg's MAC, chosen by the controller so other hosts reach it over the overlay. */
  mac: string;
  /** The IPv4 subnets it serves: network address, netmask, gateway. */
  subnets: { network: string; netmask: string; gateway: string }[];
  /** Each port of the network and its IPAM address: the only clients served. */
  clients: { mac: string; ip: string }[];
  leaseSeconds: number;
}

const netmaskOf = (prefix: number): string => [24, 16, 8, 0].map((shift) => ((0xffffffff << (32 - prefix)) >>> shift) & 0xff).join('.');

/**
 * `example.dhcp`: a DHCP server for the ports of one network, so a port whose namespace runs a
 * DHCP client gets its IPAM address. dnsmasq runs in a namespace of the plugin with one leg on
 * the network, as a daemon the agent supervises; its leases show in the observed status.
 */
export const dhcp = definePlugin({
  id: 'example.dhcp',
  version: '1.0.0',
  sdk: 1,
  kinds: {
    DhcpServer: {
      description: "A DHCP server on a network: each port of the network is offered its IPAM address, and nothing else is.",
      fields: {
        networkId: t.ref('Network', { description: 'The network it serves; one server per network.' }),
        hostId: t.ref('Host', { description: 'The host it runs on.' }),
        address: t.ip({ description: "Its own IPv4 address, in one of the network's subnets, held in IPAM." }),
        leaseSeconds: t.int({ required: false, description: 'How long a lease lasts (default 3600, at least 120).' }),
      },
      observed: {
        running: t.boolean({ description: 'Whether its dnsmasq runs.' }),
        restarts: t.counter({ description: 'How many times dnsmasq was started again.' }),
        leases: t.list(t.object('Lease', { mac: t.string(), ip: t.string(), expires: t.counter({ description: 'Unix time.' }) }), { description: 'What it has handed out.' }),
      },
    },
  },

  controller: {
    async validate(server, intent) {
      const subnets = await intent.subnets({ networkIds: [server.spec.networkId] });
      const cidr = subnetContaining(server.spec.address, subnets.filter((s) => s.ipVersion === 4).map((s) => s.cidr));
      if (!cidr) throw badInput(`${server.spec.address} is in no IPv4 subnet of the network`, 'input.address');
      if (subnets.some((s) => s.gatewayIp === server.spec.address)) throw badInput(`${server.spec.address} is the subnet's gateway`, 'input.address');
      if (server.spec.leaseSeconds !== null && server.spec.leaseSeconds < 120) throw badInput('a lease lasts at least 120 seconds', 'input.leaseSeconds');
      const other = (await intent.resources<DhcpServerSpec>('DhcpServer')).find((o) => o.spec.networkId === server.spec.networkId);
      if (other) throw conflict(`network ${server.spec.networkId} already has DHCP server ${other.name}`, 'input.networkId');
    },
    /** The server holds its address: IPAM never gives it to a port. */
    async reserve(server, intent) {
      const subnets = await intent.subnets({ networkIds: [server.spec.networkId] });
      const subnet = subnets.find((s) => s.cidr === subnetContaining(server.spec.address, [s.cidr]));
      return subnet ? [{ subnetId: subnet.id, ipAddress: server.spec.address, field: 'input.address' }] : [];
    },
    async place(server, intent) {
      const subnets = (await intent.subnets({ networkIds: [server.spec.networkId] })).filter((s) => s.ipVersion === 4);
      const own = subnetContaining(server.spec.address, subnets.map((s) => s.cidr));
      if (!own) return [];
      const v4 = new Set(subnets.map((s) => s.id));
      const ports = await intent.ports({ networkIds: [server.spec.networkId] });
      const mac = deriveMac(`dhcp:${server.id}`);
      const spec: DhcpPlacement = {
        networkId: server.spec.networkId,
        cidr: `${server.spec.address}/${own.split('/')[1]}`,
        mac,
        subnets: subnets.map((s) => ({ network: s.cidr.split('/')[0], netmask: netmaskOf(Number(s.cidr.split('/')[1])), gateway: s.gatewayIp })),
        clients: ports.flatMap((p) => p.fixedIps.filter((f) => v4.has(f.subnetId)).slice(0, 1).map((f) => ({ mac: p.macAddress, ip: f.ipAddress }))),
        leaseSeconds: server.spec.leaseSeconds ?? 3600,
      };
      return [{ hostId: server.spec.hostId, spec, networks: [server.spec.networkId], endpoints: [{ networkId: server.spec.networkId, mac, ips: [server.spec.address] }] }];
    },
  },

  agent: {
    /** Level-triggered: every desired server's namespace, leg and dnsmasq; those no longer desired removed. */
    async reconcile(desired, host): Promise<PluginStatus[]> {
      // The namespace and its leg on the network (the SDK's appliance helper), then dnsmasq in each one that stands.
      const outcomes = await reconcileAppliances(
        host,
        desired.map((s) => ({ id: s.id, legs: [{ name: LEG, networkId: s.spec.networkId, mac: s.spec.mac, addresses: [s.spec.cidr] }], routes: [] })),
      );
      const live = desired.filter((s) => outcomes.find((o) => o.id === s.id)?.state === RealizationState.APPLIED);
      const statuses: PluginStatus[] = outcomes
        .filter((o) => o.state === RealizationState.FAILED)
        .map((o) => ({ id: o.id, state: RealizationState.FAILED, reason: o.reason ?? 'failed' }));
      let daemons;
      try {
        daemons = await host.daemons(live.map((s) => daemonOf(s.id, host.netnsName(s.id), s.spec)));
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        return [...statuses, ...live.map((s) => ({ id: s.id, state: RealizationState.FAILED as const, reason }))];
      }
      live.forEach((s, i) => {
        const d = daemons[i];
        statuses.push(
          d.running
            ? { id: s.id, state: RealizationState.APPLIED, attributes: { netns: host.netnsName(s.id), interface: LEG, pid: String(d.pid) } }
            : { id: s.id, state: RealizationState.FAILED, reason: `dnsmasq is not running${d.lastExit ? ` (${d.lastExit})` : ''}` },
        );
      });
      return statuses;
    },

    async observe(desired, host) {
      const states = await host.daemons(desired.map((s) => daemonOf(s.id, host.netnsName(s.id), s.spec)));
      const observed: Record<string, { running: boolean; restarts: number; leases: { mac: string; ip: string; expires: number }[] }> = {};
      for (const [i, server] of desired.entries()) {
        const leases = ((await host.daemonFile(daemonName(server.id), 'leases')) ?? '')
          .split('\n')
          .map((line) => line.split(' '))
          .filter((f) => f.length >= 3)
          .map(([expires, mac, ip]) => ({ mac, ip, expires: Number(expires) }));
        observed[server.id] = { running: states[i].running, restarts: states[i].restarts, leases };
      }
      return observed;
    },
  },
});

const daemonName = (id: string): string => `d${id.toLowerCase().replace(/[^a-z0-9]/g, '').slice(0, 31)}`;

/** dnsmasq for one server: DHCP only (no DNS), its clients in a hosts file it rereads on SIGHUP, leases in its folder. */
function daemonOf(id: string, netns: string, spec: DhcpPlacement) {
  return {
    name: daemonName(id),
    netns,
    program: DNSMASQ,
    args: ['--keep-in-foreground', '--conf-file={config}', '--dhcp-hostsfile={dir}/clients', '--dhcp-leasefile={dir}/leases'],
    config: [
      'port=0',
      `interface=${LEG}`,
      'bind-interfaces',
      'no-resolv',
      'no-hosts',
      'dhcp-authoritative',
      'log-facility=-',
      // Its folder is the agent's (mode 0700): dnsmasq keeps root to write its leases there.
      'user=root',
      ...spec.subnets.map((s) => `dhcp-range=set:${tagOf(s.network)},${s.network},static,${s.netmask},${spec.leaseSeconds}`),
      ...spec.subnets.map((s) => `dhcp-option=tag:${tagOf(s.network)},option:router,${s.gateway}`),
      '',
    ].join('\n'),
    files: { clients: spec.clients.map((c) => `${c.mac},${c.ip}\n`).join('') },
    reloadSignal: 'SIGHUP' as const,
  };
}

const tagOf = (network: string): string => `s${network.replace(/\./g, '_')}`;

/** What the API stores for a DhcpServer: inferred from its schema. */
export type DhcpServerSpec = SpecOf<(typeof dhcp)['kinds']['DhcpServer']>;

export default dhcp;
