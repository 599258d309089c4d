import { definePlugin } from '@netloom/plugin-sdk';
import { loadBalancerAgent } from './agent';
import { placeLoadBalancer, reserveLoadBalancer, validateLoadBalancer } from './controller';
import { loadBalancerKind } from './spec';

export type { LbPlacement, LoadBalancerSpec } from './spec';
export { lbTable } from './table';

/**
 * `netloom.load-balancer`: a VIP in a namespace of its own on one host (a leg on the VIP's
 * network), listeners whose pools spread new connections over healthy members by nftables DNAT
 * (weighted round robin, random, or source-IP hash with optional affinity), health checks from
 * that namespace, and per-member status and counters.
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
  },
  agent: loadBalancerAgent,
});

export default loadBalancer;
