import type { Lab, Net, PortView } from '@netloom/simhosts';

/** Both tenant networks use the same addresses: only the overlay keeps them apart. */
export const TENANT_CIDR = '10.60.0.0/24';
/** The network standing for the world beyond the router (TEST-NET-3): an overlay, with one port on it. */
export const OUTSIDE_CIDR = '203.0.113.0/24';

/** The demo's ports: name, network, host index and fixed address (IPAM's pick when absent). */
const PORTS = [
  { name: 'blue-0', net: 'blue', host: 0 },
  { name: 'blue-1', net: 'blue', host: 1 },
  { name: 'blue-2', net: 'blue', host: 2 },
  { name: 'red-0', net: 'red', host: 0, ip: '10.60.0.12' },
  { name: 'red-1', net: 'red', host: 1, ip: '10.60.0.13' },
  { name: 'remote', net: 'outside', host: 2, ip: '203.0.113.100' },
] as const;

export type PortName = (typeof PORTS)[number]['name'];
type NetName = (typeof PORTS)[number]['net'];

/** What the proofs work on: the lab (controller, hosts, agents), the networks and the ports. */
export interface World {
  readonly lab: Lab;
  readonly nets: Record<NetName, Net>;
  readonly ports: Record<PortName, PortView>;
}

/** The index of the host with controller id `hostId`. */
export const hostIndex = (w: World, hostId: string): number => w.lab.cluster.hostIds.indexOf(hostId);

/** Makes the networks, then all ports in one `createPorts(wait: true)`. */
export async function buildWorld(lab: Lab): Promise<World> {
  const nets: Record<NetName, Net> = {
    blue: await lab.makeNetwork('blue', TENANT_CIDR, 'blue'),
    red: await lab.makeNetwork('red', TENANT_CIDR, 'red'),
    outside: await lab.makeNetwork('outside', OUTSIDE_CIDR, 'outside'),
  };
  const made = await lab.makePorts(PORTS.map((p) => ({ name: p.name, net: nets[p.net], host: p.host, ip: 'ip' in p ? p.ip : undefined })));
  const ports = Object.fromEntries(made.map((p) => [p.name, p])) as Record<PortName, PortView>;
  return { lab, nets, ports };
}

/** One line per port: name, network, host, address, namespace. */
export const portLines = (w: World): string[] =>
  PORTS.map((p) => `  ${p.name.padEnd(7)} ${p.net.padEnd(8)} host ${p.host}  ${w.ports[p.name].ip.padEnd(14)} namespace ${w.ports[p.name].ns}`);
