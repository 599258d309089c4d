import { definePlugin } from '@netloom/plugin-sdk';
import { loadBalancerAgent } from './agent';
import { checkedHealth, placeLoadBalancer, reserveLoadBalancer, validateLoadBalancer } from './controller';
import { loadBalancerKind } from './spec';

export type { LbPlacement, LoadBalancerSpec } from './spec';
export { lbTable } from './table';

/**
 * `netloom.load-balancer`: a VIP whose listeners spread new connections over healthy members by
 * nftables DNAT (weighted round robin, random, or source-IP hash with optional affinity), with
 * per-member status and counters. DISTRIBUTED: translated on every host, in the host namespace,
 * as the client sends (members see the client's address; a responder namespace per network and
 * host answers ARP for its VIPs; a health monitor checks each member on its port's host, and every
 * host follows the result through the controller). APPLIANCE: in a namespace of its own on one
 * host (a leg on the VIP's network), with health checks from there.
 */
export const loadBalancer = definePlugin({
  id: 'netloom.load-balancer',
  version: '0.1.0',
  sdk: 1,
  kinds: { LoadBalancer: loadBalancerKind },
  controller: {
    validate: validateLoadBalancer,
    place: placeLoadBalancer,
    reserve: reserveLoadBalancer,
    observedForPlacement: checkedHealth,
  },
  agent: loadBalancerAgent,
});

export default loadBalancer;
