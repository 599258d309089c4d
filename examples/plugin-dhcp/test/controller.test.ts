import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deriveMac } from '@netloom/plugin-sdk';
import { inMemoryIntent, runController } from '@netloom/plugin-sdk/testing';
import { dhcp } from '../src/index';

// The controller half against an in-memory intent, with the SDK's test kit.
const intent = inMemoryIntent({
  hosts: [{ id: 'h1' }, { id: 'h2' }],
  networks: [{ id: 'n1' }, { id: 'n2' }],
  subnets: [
    { id: 's1', networkId: 'n1', cidr: '10.70.0.0/24', gatewayIp: '10.70.0.1' },
    { id: 's6', networkId: 'n1', cidr: 'fd70::/64', gatewayIp: 'fd70::1', ipVersion: 6 },
    { id: 's2', networkId: 'n2', cidr: '10.71.0.0/24', gatewayIp: '10.71.0.1' },
  ],
  ports: [
    { id: 'p1', networkId: 'n1', hostId: 'h2', macAddress: '02:00:00:00:00:01', fixedIps: [{ subnetId: 's1', ipAddress: '10.70.0.5' }, { subnetId: 's6', ipAddress: 'fd70::5' }] },
    { id: 'p2', networkId: 'n2', hostId: 'h2', macAddress: '02:00:00:00:00:02', fixedIps: [] },
  ],
  resources: [{ id: 'other', kind: 'DhcpServer', name: 'taken', spec: { networkId: 'n2', hostId: 'h1', address: '10.71.0.2', leaseSeconds: null } }],
});
const server = (spec: Partial<{ networkId: string; hostId: string; address: string; leaseSeconds: number | null }> = {}) => ({
  id: 'd1',
  spec: { networkId: 'n1', hostId: 'h1', address: '10.70.0.2', leaseSeconds: null, ...spec },
});

describe('DhcpServer: controller half', () => {
  it('is placed on its host with its leg on the network, the IPv4 subnets, and each port with its IPAM address', async () => {
    const { placements, reservations } = await runController(dhcp, 'DhcpServer', server(), intent);
    const mac = deriveMac('dhcp:d1');
    assert.deepEqual(placements, [
      {
        hostId: 'h1',
        spec: {
          networkId: 'n1',
          cidr: '10.70.0.2/24',
          mac,
          subnets: [{ network: '10.70.0.0', netmask: '255.255.255.0', gateway: '10.70.0.1' }],
          clients: [{ mac: '02:00:00:00:00:01', ip: '10.70.0.5' }],
          leaseSeconds: 3600,
        },
        networks: ['n1'],
        endpoints: [{ networkId: 'n1', mac, ips: ['10.70.0.2'] }],
      },
    ]);
    assert.deepEqual(reservations, [{ subnetId: 's1', ipAddress: '10.70.0.2', field: 'input.address' }]);
  });

  it('refuses an address outside the IPv4 subnets or the gateway, a short lease, and a second server on a network', async () => {
    await assert.rejects(runController(dhcp, 'DhcpServer', server({ address: '10.99.0.2' }), intent), { code: 'BAD_USER_INPUT', field: 'input.address' });
    await assert.rejects(runController(dhcp, 'DhcpServer', server({ address: '10.70.0.1' }), intent), { code: 'BAD_USER_INPUT', message: /gateway/ });
    await assert.rejects(runController(dhcp, 'DhcpServer', server({ leaseSeconds: 60 }), intent), { code: 'BAD_USER_INPUT', field: 'input.leaseSeconds' });
    await assert.rejects(runController(dhcp, 'DhcpServer', server({ networkId: 'n2', address: '10.71.0.3' }), intent), { code: 'CONFLICT', message: /already has DHCP server taken/ });
  });
});
