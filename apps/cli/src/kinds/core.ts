import {
  DeleteHostDocument,
  DeleteNetworkDocument,
  DeletePortDocument,
  DeleteSubnetDocument,
  HostsDocument,
  NetworksDocument,
  PortsDocument,
  SubnetsDocument,
  type HostFieldsFragment,
  type NetworkFieldsFragment,
  type PortFieldsFragment,
  type SubnetFieldsFragment,
} from '../generated/graphql';
import { summarizeStatus } from '../output/status';
import { age, cell, labelsText } from '../output/table';
import { commonFields, fieldValue, statusSection } from './describe-helpers';
import { allPages, PAGE, type KindHandler } from './kind';

const addresses = (p: PortFieldsFragment): string => p.fixedIps.map((ip) => ip.ipAddress).join(',') || '<none>';

export const hostKind: KindHandler<HostFieldsFragment> = {
  typeName: 'Host',
  listField: 'hosts',
  cascades: true,
  list: (client, filter) => allPages(async (after) => (await client.request(HostsDocument, { filter, first: PAGE, after })).hosts),
  table: (hosts, wide) => ({
    headers: ['NAME', 'VTEP', 'AGENT', 'PORTS', 'AGE', ...(wide ? ['ID', 'MTU', 'VERSION', 'REVISION', 'LABELS'] : [])],
    rows: hosts.map((h) => [
      h.name,
      h.vtepAddress,
      h.agent?.state ?? 'NOT JOINED',
      String(h.ports.totalCount),
      age(h.createdAt),
      ...(wide ? [h.id, String(h.underlayMtu), cell(h.agent?.agentVersion), cell(h.agent?.appliedRevision), labelsText(h.labels)] : []),
    ]),
  }),
  describe: (_client, h) =>
    Promise.resolve({
      fields: [...commonFields('Host', h), ['VTEP address', h.vtepAddress], ['Underlay MTU', String(h.underlayMtu)]],
      sections: [
        {
          title: 'Agent',
          lines: h.agent
            ? [
                `state: ${h.agent.state}${h.agent.controller ? ` (served by ${h.agent.controller})` : ''}`,
                `version: ${cell(h.agent.agentVersion)}, kernel: ${cell(h.agent.kernel)}`,
                `applied revision: ${h.agent.appliedRevision}, last seen: ${cell(h.agent.lastSeen)}`,
                `plugins: ${h.agent.plugins.join(', ') || '<none>'}`,
                `capabilities: ${h.agent.capabilities.join(', ') || '<none>'}`,
                ...(h.agent.stateError ? [`state dir error: ${h.agent.stateError}`] : []),
              ]
            : ['<not joined: no agent has used the join token yet>'],
        },
        { title: 'Related', lines: [`ports: ${h.ports.totalCount}`] },
      ],
    }),
  delete: async (client, h, o) =>
    (await client.request(DeleteHostDocument, { input: { id: h.id, generation: h.generation, cascade: o.cascade }, wait: o.wait })).deleteHost,
};

export const networkKind: KindHandler<NetworkFieldsFragment> = {
  typeName: 'Network',
  listField: 'networks',
  cascades: true,
  list: (client, filter) => allPages(async (after) => (await client.request(NetworksDocument, { filter, first: PAGE, after })).networks),
  table: (networks, wide) => ({
    headers: ['NAME', 'VNI', 'SUBNETS', 'PORTS', 'STATUS', 'AGE', ...(wide ? ['ID', 'MTU', 'LABELS'] : [])],
    rows: networks.map((n) => [
      n.name,
      String(n.vni),
      n.subnets.edges.map((e) => e.node.cidr).join(',') || '<none>',
      String(n.ports.totalCount),
      summarizeStatus(n.status, n.generation),
      age(n.createdAt),
      ...(wide ? [n.id, cell(n.mtu), labelsText(n.labels)] : []),
    ]),
  }),
  describe: (_client, n) =>
    Promise.resolve({
      fields: [
        ...commonFields('Network', n),
        ...(n.providerInterface
          ? ([
              ['Provider', `${n.providerInterface}${n.vlanId === null ? ' (flat)' : ` VLAN ${n.vlanId}`}`],
              ['MTU', n.mtu === null ? '1500' : String(n.mtu)],
            ] as [string, string][])
          : ([
              ['VNI', String(n.vni)],
              ['MTU', n.mtu === null ? '<underlay MTU - 50>' : String(n.mtu)],
            ] as [string, string][])),
      ],
      sections: [
        statusSection(n.status, n.generation),
        {
          title: 'Related',
          lines: [
            `subnets: ${n.subnets.totalCount}`,
            ...n.subnets.edges.map((e) => `  ${e.node.name}  ${e.node.cidr}`),
            ...(n.subnets.totalCount > n.subnets.edges.length ? [`  … (netloom get subnets lists them all)`] : []),
            `ports: ${n.ports.totalCount}`,
          ],
        },
      ],
    }),
  delete: async (client, n, o) =>
    (await client.request(DeleteNetworkDocument, { input: { id: n.id, generation: n.generation, cascade: o.cascade }, wait: o.wait })).deleteNetwork,
};

export const subnetKind: KindHandler<SubnetFieldsFragment> = {
  typeName: 'Subnet',
  listField: 'subnets',
  cascades: false,
  list: (client, filter) => allPages(async (after) => (await client.request(SubnetsDocument, { filter, first: PAGE, after })).subnets),
  table: (subnets, wide) => ({
    headers: ['NAME', 'NETWORK', 'CIDR', 'GATEWAY', 'AGE', ...(wide ? ['ID', 'POOLS', 'DNS', 'LABELS'] : [])],
    rows: subnets.map((s) => [
      s.name,
      s.network.name,
      s.cidr,
      s.gatewayIp,
      age(s.createdAt),
      ...(wide ? [s.id, s.allocationPools.map((p) => `${p.start}-${p.end}`).join(','), s.dnsServers.join(',') || '<none>', labelsText(s.labels)] : []),
    ]),
  }),
  describe: (_client, s) =>
    Promise.resolve({
      fields: [
        ...commonFields('Subnet', s),
        ['CIDR', s.cidr],
        ['IP version', String(s.ipVersion)],
        ['Gateway', s.gatewayIp],
        ['Allocation pools', s.allocationPools.map((p) => `${p.start}-${p.end}`).join(', ')],
        ['DNS servers', s.dnsServers.join(', ') || '<none>'],
      ],
      sections: [{ title: 'Related', lines: [`network: ${s.network.name}`] }],
    }),
  delete: async (client, s, o) => (await client.request(DeleteSubnetDocument, { input: { id: s.id, generation: s.generation }, wait: o.wait })).deleteSubnet,
};

export const portKind: KindHandler<PortFieldsFragment> = {
  typeName: 'Port',
  listField: 'ports',
  cascades: false,
  list: (client, filter) => allPages(async (after) => (await client.request(PortsDocument, { filter, first: PAGE, after })).ports),
  table: (ports, wide) => ({
    headers: ['NAME', 'NETWORK', 'HOST', 'ADDRESSES', 'STATUS', 'AGE', ...(wide ? ['ID', 'MAC', 'NETNS', 'SECURITY', 'LABELS'] : [])],
    rows: ports.map((p) => [
      p.name,
      p.network.name,
      p.host.name,
      addresses(p),
      summarizeStatus(p.status, p.generation),
      age(p.createdAt),
      ...(wide ? [p.id, p.macAddress, cell(p.netns), p.portSecurity ? 'on' : 'off', labelsText(p.labels)] : []),
    ]),
  }),
  describe: (_client, p) =>
    Promise.resolve({
      fields: [
        ...commonFields('Port', p),
        ['MAC', p.macAddress],
        ['Addresses', p.fixedIps.map((ip) => `${ip.ipAddress} (${ip.subnet.name} ${ip.subnet.cidr})`).join(', ') || '<none>'],
        ['Port security', p.portSecurity ? 'on' : 'off'],
        ['Allowed pairs', fieldValue(p.allowedAddressPairs)],
        ['Netns', p.netns ?? '<made by the agent>'],
      ],
      sections: [statusSection(p.status, p.generation), { title: 'Related', lines: [`network: ${p.network.name}`, `host: ${p.host.name}`] }],
    }),
  delete: async (client, p, o) => (await client.request(DeletePortDocument, { input: { id: p.id, generation: p.generation }, wait: o.wait })).deletePort,
};

export const coreKinds = [hostKind, networkKind, subnetKind, portKind] as KindHandler[];
