import {
  badInput,
  deriveMac,
  type DesiredPluginResource,
  definePlugin,
  type PluginStatus,
  RealizationState,
  type SpecOf,
  subnetContaining,
  t,
} from '@netloom/plugin-sdk';

/** What the Tap's host receives. */
export interface TapPlacement {
  networkId: string;
  /** `address/prefix`. */
  cidr: string;
  /** The leg's MAC, chosen by the controller so other hosts can reach it over the overlay. */
  mac: string;
}

/**
 * `netloom.tap`: a namespace on a host with one leg on a network, at an address the user picks —
 * a probe point for troubleshooting. Small on purpose: it is the SDK's worked example
 * (libs/plugin-sdk/README.md).
 */
export const tap = definePlugin({
  id: 'netloom.tap',
  version: '0.1.0',
  sdk: 1,
  kinds: {
    Tap: {
      description: 'A namespace on a host with one leg on a network, for probing it.',
      fields: {
        hostId: t.ref('Host'),
        networkId: t.ref('Network'),
        address: t.ip({ description: "An address in one of the network's subnets, held by the tap in IPAM." }),
      },
    },
  },

  controller: {
    async validate(tap, intent) {
      const subnets = await intent.subnets({ networkIds: [tap.spec.networkId] });
      const cidr = subnetContaining(tap.spec.address, subnets.map((s) => s.cidr));
      if (!cidr) throw badInput(`${tap.spec.address} is in no subnet of the network`, 'input.address');
      const subnet = subnets.find((s) => s.cidr === cidr)!;
      if (subnet.gatewayIp === tap.spec.address) throw badInput(`${tap.spec.address} is the subnet's gateway`, 'input.address');
    },
    /** The tap holds its address: IPAM never gives it to a port, and one a port holds is refused (CONFLICT). */
    async reserve(tap, intent) {
      const subnets = await intent.subnets({ networkIds: [tap.spec.networkId] });
      const cidr = subnetContaining(tap.spec.address, subnets.map((s) => s.cidr));
      const subnet = subnets.find((s) => s.cidr === cidr);
      return subnet ? [{ subnetId: subnet.id, ipAddress: tap.spec.address, field: 'input.address' }] : [];
    },
    async place(tap, intent) {
      const subnets = await intent.subnets({ networkIds: [tap.spec.networkId] });
      const cidr = subnetContaining(tap.spec.address, subnets.map((s) => s.cidr))!;
      const placement: TapPlacement = {
        networkId: tap.spec.networkId,
        cidr: `${tap.spec.address}/${cidr.split('/')[1]}`,
        mac: deriveMac(`tap:${tap.id}`),
      };
      return [
        {
          hostId: tap.spec.hostId,
          spec: placement,
          networks: [tap.spec.networkId],
          endpoints: [{ networkId: tap.spec.networkId, mac: placement.mac, ips: [tap.spec.address] }],
        },
      ];
    },
  },

  agent: {
    /** Level-triggered: make every desired tap exist as specified, remove the taps no longer desired. */
    async reconcile(desired, host): Promise<PluginStatus[]> {
      const existing = new Set(await host.ownedNetns());
      const legs = new Set((await host.ownedLinks()).map((l) => l.ifname));
      const statuses: PluginStatus[] = [];
      const plans: { tap: DesiredPluginResource<TapPlacement>; netns: string; leg: string; bridge: string; rebuild: boolean; configure: boolean }[] = [];
      for (const tap of desired) {
        const netns = host.netnsName(tap.id);
        const leg = host.linkName(tap.id);
        const bridge = host.networkBridge(tap.spec.networkId);
        if (!bridge) {
          statuses.push({ id: tap.id, state: RealizationState.FAILED, reason: `network ${tap.spec.networkId} is not on this host` });
          continue;
        }
        const rebuild = !existing.has(netns) || !legs.has(leg);
        // Read inside only what may be right already: a repeated pass then changes nothing.
        const inside = rebuild ? [] : await host.links(netns).catch(() => []);
        const configured =
          inside.some((l) => l.ifname === 'tap0' && l.up && l.address === tap.spec.mac) &&
          (await host.addresses(netns, 'tap0').catch(() => [])).some((a) =>
            a.addresses.some((x) => `${x.local}/${x.prefixlen}` === tap.spec.cidr),
          );
        plans.push({ tap, netns, leg, bridge, rebuild, configure: rebuild || !configured });
      }
      const wanted = new Set(plans.map((p) => p.netns));
      const result = await host.apply((changes) => {
        for (const { tap, netns, leg, bridge, rebuild, configure } of plans) {
          if (!existing.has(netns)) changes.netnsAdd(netns, tap.id);
          if (rebuild) {
            if (legs.has(leg)) changes.host.linkDel(leg, tap.id);
            changes.host.vethAdd(leg, { peer: 'tap0', peerNetns: netns, master: bridge }, tap.id);
            changes.host.linkSet(leg, { up: true }, tap.id);
          }
          if (configure) {
            changes
              .in(netns)
              .linkSet('tap0', { address: tap.spec.mac }, tap.id)
              .linkSet('tap0', { up: true }, tap.id)
              .addrReplace(tap.spec.cidr, 'tap0', tap.id);
          }
        }
        // Garbage collection: taps of this host no longer desired (their legs go with them).
        for (const netns of existing) if (!wanted.has(netns)) changes.netnsDel(netns);
      });
      const failed = new Map(result.failed.map((f) => [f.key, f.error]));
      for (const { tap, netns, leg } of plans) {
        const reason = failed.get(tap.id);
        statuses.push(
          reason
            ? { id: tap.id, state: RealizationState.FAILED, reason }
            : { id: tap.id, state: RealizationState.APPLIED, attributes: { netns, interface: 'tap0', hostInterface: leg } },
        );
      }
      return statuses;
    },
  },
});

/** What the API stores for a Tap: inferred from its schema. */
export type TapSpec = SpecOf<(typeof tap)['kinds']['Tap']>;

export default tap;
