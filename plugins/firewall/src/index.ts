import { definePlugin } from '@netloom/plugin-sdk';
import { firewallAgent } from './agent';
import { placePolicy, validateGroup, validatePolicy } from './controller';
import { addressGroupKind, firewallPolicyKind } from './spec';

export type { AddressGroupSpec, FirewallPolicySpec, PolicyPlacement } from './spec';
export { firewallTable } from './table';

/**
 * `netloom.firewall`: stateful, ordered filtering of ports in one table per host (nftables,
 * conntrack), policies picking ports by list, network and labels, address groups kept up to date
 * as ports come and go (nft sets), per-rule counters; a covered port stays down until its rules
 * are in place (placement guards).
 */
export const firewall = definePlugin({
  id: 'netloom.firewall',
  version: '0.1.0',
  sdk: 1,
  kinds: { FirewallPolicy: firewallPolicyKind, AddressGroup: addressGroupKind },
  controller: {
    validate: (resource) => {
      if (resource.kind === 'FirewallPolicy') validatePolicy(resource);
      else if (resource.kind === 'AddressGroup') validateGroup(resource);
    },
    // An address group is data its policies read; only policies are placed.
    place: (resource, intent) => (resource.kind === 'FirewallPolicy' ? placePolicy(resource, intent) : []),
  },
  agent: firewallAgent,
});

export default firewall;
