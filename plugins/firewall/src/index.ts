import { definePlugin, type PluginResource } from '@netloom/plugin-sdk';
import { firewallAgent } from './agent';
import { placePolicy, validateGroup, validatePolicy } from './controller';
import { addressGroupKind, type AddressGroupSpec, firewallPolicyKind, type FirewallPolicySpec } from './spec';

export type { AddressGroupSpec, FirewallPolicySpec, PolicyPlacement } from './spec';
export { firewallTable } from './table';

type Resource = PluginResource<FirewallPolicySpec | AddressGroupSpec>;
const isPolicy = (r: Resource): r is PluginResource<FirewallPolicySpec> => r.kind === 'FirewallPolicy';
const isGroup = (r: Resource): r is PluginResource<AddressGroupSpec> => r.kind === 'AddressGroup';

/**
 * `netloom.firewall`: stateful, ordered filtering of ports in one table per host (nftables,
 * conntrack), policies picking ports by list, network and labels, address groups kept up to date
 * as ports come and go (nft sets), per-rule counters; a covered port stays down until its rules
 * are in place (placement guards).
 */
export const firewall = definePlugin<FirewallPolicySpec | AddressGroupSpec>({
  id: 'netloom.firewall',
  version: '0.1.0',
  sdk: 1,
  kinds: { FirewallPolicy: firewallPolicyKind, AddressGroup: addressGroupKind },
  controller: {
    validate: (resource) => {
      if (isPolicy(resource)) validatePolicy(resource);
      else if (isGroup(resource)) validateGroup(resource);
    },
    // An address group is data its policies read; only policies are placed.
    place: (resource, intent) => (isPolicy(resource) ? placePolicy(resource, intent) : []),
  },
  agent: firewallAgent,
});

export default firewall;
