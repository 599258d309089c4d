import { badInput, conflict, definePlugin, type PluginStatus, RealizationState, type SpecOf, t } from '@netloom/plugin-sdk';

/** What the port's host receives. */
export interface PortBlockPlacement {
  portId: string;
  destinations: string[];
}

/**
 * `example.portblock`: one port may not open connections to the networks given (its new flows to
 * them are dropped, inside the port's own namespace, and counted); it still answers them. Built outside NetLoom's repository, against the packed
 * SDK, the way a third party builds a plugin.
 */
export const portBlock = definePlugin({
  id: 'example.portblock',
  version: '1.0.0',
  sdk: 1,
  kinds: {
    PortBlock: {
      description: 'Networks one port may not open connections to: its new flows to them are dropped and counted; it still answers them.',
      fields: {
        portId: t.ref('Port', { description: 'The port whose traffic is filtered; one PortBlock per port.' }),
        destinations: t.list(t.cidr(), { description: 'Networks (IPv4 or IPv6) the port may not open connections to; at least one.' }),
      },
      observed: {
        dropped: t.counter({ description: 'Packets that would have opened a connection to these networks, dropped.' }),
      },
    },
  },

  controller: {
    async validate(block, intent) {
      if (!block.spec.destinations.length) throw badInput('name at least one destination network', 'input.destinations');
      const others = await intent.resources<PortBlockSpec>('PortBlock');
      const other = others.find((o) => o.spec.portId === block.spec.portId);
      if (other) throw conflict(`port ${block.spec.portId} already has PortBlock ${other.name}`, 'input.portId');
    },
    async place(block, intent) {
      const [port] = await intent.ports({ ids: [block.spec.portId] });
      if (!port) return [];
      const spec: PortBlockPlacement = { portId: port.id, destinations: block.spec.destinations };
      return [{ hostId: port.hostId, spec }];
    },
  },

  agent: {
    /** Level-triggered: every desired block's table in its port's namespace; the tables of blocks no longer desired removed. */
    async reconcile(desired, host): Promise<PluginStatus[]> {
      const statuses: PluginStatus[] = [];
      const blocked = new Set<string>();
      for (const block of desired) {
        const place = host.port(block.spec.portId);
        if (!place) {
          statuses.push({ id: block.id, state: RealizationState.FAILED, reason: `port ${block.spec.portId} is not on this host yet` });
          continue;
        }
        blocked.add(block.spec.portId);
        const v4 = block.spec.destinations.filter((d) => !d.includes(':'));
        const v6 = block.spec.destinations.filter((d) => d.includes(':'));
        try {
          await host.nftTable(TABLE_BODY, place.netns, { counters: ['dropped'], sets: { v4, v6 } });
          statuses.push({ id: block.id, state: RealizationState.APPLIED, attributes: { netns: place.netns } });
        } catch (error) {
          statuses.push({ id: block.id, state: RealizationState.FAILED, reason: error instanceof Error ? error.message : String(error) });
        }
      }
      // Garbage collection: no table in the namespace of a port that has no block any more (the
      // context lists a namespace's ruleset at most every few seconds to know, and writes nothing when there is none).
      for (const portId of host.portIds()) {
        const place = host.port(portId);
        if (place && !blocked.has(portId)) await host.nftTable('', place.netns);
      }
      return statuses;
    },

    async observe(desired, host) {
      const observed: Record<string, { dropped: number }> = {};
      for (const block of desired) {
        const place = host.port(block.spec.portId);
        if (place) observed[block.id] = { dropped: (await host.nftCounters(place.netns)).dropped?.packets ?? 0 };
      }
      return observed;
    },
  },
});

const TABLE_BODY = `
  set v4 { type ipv4_addr; flags interval; }
  set v6 { type ipv6_addr; flags interval; }
  chain out {
    type filter hook output priority 0; policy accept;
    ct state new ip daddr @v4 counter name "dropped" drop
    ct state new ip6 daddr @v6 counter name "dropped" drop
  }
`;

/** What the API stores for a PortBlock: inferred from its schema. */
export type PortBlockSpec = SpecOf<(typeof portBlock)['kinds']['PortBlock']>;

export default portBlock;
