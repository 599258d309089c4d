import { type KindDefinition, type SpecOf, t } from '@netloom/plugin-sdk';

/** What the API stores for a FirewallPolicy: inferred from its schema below (optional fields are null when absent). */
export type FirewallPolicySpec = SpecOf<typeof firewallPolicyKind>;
export type RuleSpec = FirewallPolicySpec['rules'][number];
export type SelectorSpec = FirewallPolicySpec['selector'];
/** What the API stores for an AddressGroup. */
export type AddressGroupSpec = SpecOf<typeof addressGroupKind>;
export type Action = FirewallPolicySpec['rules'][number]['action'];
export type Direction = RuleSpec['direction'];
export type Protocol = NonNullable<RuleSpec['protocol']>;

/** What a host receives for one policy: its rules, the ports it covers there, its groups resolved. */
export interface PolicyPlacement {
  priority: number;
  ingressDefault: Action;
  egressDefault: Action;
  rules: PlacedRule[];
  /** Core ports on this host the policy covers. */
  ports: string[];
  /** Address groups its rules use: id → addresses and CIDRs now (ports matching the group's selector included). */
  groups: Record<string, string[]>;
}

export interface PlacedRule {
  priority: number;
  direction: Direction;
  protocol: Protocol;
  /** Inclusive destination port ranges (TCP/UDP); empty: every port. */
  ports: [number, number][];
  remoteCidrs: string[];
  remoteGroupIds: string[];
  action: Action;
  log: boolean;
}

export const DEFAULTS = { policyPriority: 1000, ingress: 'DROP' as Action, egress: 'ALLOW' as Action };

const selectorFields = () => ({
  portIds: t.list(t.ref('Port'), { description: 'These ports.' }),
  networkIds: t.list(t.ref('Network'), { description: 'Ports on these networks (combined with labels: both must hold).' }),
  labels: t.labels({ description: 'Ports carrying every one of these labels.' }),
});
const selector = <R extends boolean = true>(description: string, required?: R) =>
  t.object('Selector', selectorFields(), { required, description, typeDescription: 'Which ports: those listed, plus those matching networkIds and labels.' });
const action = <R extends boolean = true>(opts: { required?: R; description?: string } = {}) => t.enum('Action', ['ALLOW', 'DROP', 'REJECT'], opts);
const direction = (opts: { description?: string } = {}) => t.enum('Direction', ['INGRESS', 'EGRESS'], { ...opts, typeDescription: 'INGRESS: to the port; EGRESS: from it.' });

export const firewallPolicyKind = {
  description:
    'Stateful, ordered filtering of the ports a selector picks, in one table per host (each rule once): replies of allowed connections pass, invalid packets drop, the first matching rule decides, then the default of the direction.',
  fields: {
    priority: t.int({ required: false, description: 'Order among the policies of a port: lower first (0-65535, default 1000; ties by id).' }),
    selector: selector('The ports it covers: those listed, plus those matching networkIds and labels (at least one of the three).'),
    ingressDefault: action({ required: false, description: 'For traffic to the port that no rule matched (default DROP).' }),
    egressDefault: action({ required: false, description: 'For traffic from the port that no rule matched (default ALLOW).' }),
    rules: t.list(
      t.object('Rule', {
        priority: t.int({ description: 'Order within the policy, lower first; unique in the policy (0-65535). The rule’s counters belong to it.' }),
        direction: direction(),
        protocol: t.enum('Protocol', ['ANY', 'TCP', 'UDP', 'ICMP', 'ICMPV6'], { required: false, description: 'Default ANY.' }),
        ports: t.list(t.object('PortRange', { from: t.int(), to: t.int({ required: false, description: 'Inclusive; default: from.' }) }), {
          description: 'Destination ports (TCP/UDP only); empty: all.',
        }),
        remoteCidrs: t.list(t.cidr(), { description: 'The other end’s address is in one of these (or of the groups); both empty: anywhere.' }),
        remoteGroupIds: t.list(t.ref('AddressGroup'), { description: 'Or in one of these address groups.' }),
        action: action(),
        log: t.boolean({ required: false, description: 'Log matching packets (kernel log, prefix `nlfw`).' }),
      }),
    ),
  },
  observed: {
    ports: t.int({ description: 'Ports it filters on this host.' }),
    rules: t.list(
      t.object('RuleObserved', {
        priority: t.int(),
        direction: direction(),
        action: action(),
        packets: t.counter({ description: 'Packets it decided, on this host (since the host made it).' }),
        bytes: t.counter(),
      }),
    ),
    defaults: t.list(
      t.object('DefaultObserved', {
        direction: direction(),
        action: action(),
        packets: t.counter({ description: 'Packets it decided on this host (where this policy’s default is the one that applies; see the composition order).' }),
        bytes: t.counter(),
      }),
    ),
  },
} satisfies KindDefinition;

export const addressGroupKind = {
  description: 'A named set of addresses for firewall rules: CIDRs, and the addresses of the ports a selector picks, kept up to date as ports come and go.',
  fields: {
    cidrs: t.list(t.cidr()),
    selector: selector('Ports whose addresses belong to the group (listed, or matching networkIds and labels).', false),
  },
} satisfies KindDefinition;
