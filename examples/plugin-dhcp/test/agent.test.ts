import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { deriveMac, RealizationState } from '@netloom/plugin-sdk';
import { agentTestHost, type AgentTestHost } from '@netloom/plugin-sdk/testing';
import { dhcp, type DhcpPlacement, DNSMASQ } from '../src/index';

// The agent half against the real kernel (as root), in a throwaway host made by the SDK's test
// kit: dnsmasq supervised in the plugin's namespace, a DHCP client (busybox udhcpc) in a
// namespace of the test standing for a port.
const asRoot = process.getuid?.() === 0;
const CLIENT_MAC = '02:00:00:00:70:05';

describe('DhcpServer: agent half on the real kernel', { skip: !asRoot && 'needs root' }, () => {
  let kit: AgentTestHost;
  let client: string;
  let scripts: string;
  const placement = (clients: DhcpPlacement['clients']): { kind: string; id: string; generation: number; spec: DhcpPlacement }[] => [
    {
      kind: 'DhcpServer',
      id: 'd1',
      generation: 1,
      spec: { networkId: 'n1', cidr: '10.72.0.2/24', mac: deriveMac('dhcp:d1'), subnets: [{ network: '10.72.0.0', netmask: '255.255.255.0', gateway: '10.72.0.1' }], clients, leaseSeconds: 600 },
    },
  ];
  /** Asks for a lease from the client namespace; the address it was offered, or '' (none). */
  const ask = async (): Promise<string> => {
    const r = await kit.exec(client, ['busybox', 'udhcpc', '-i', 'eth0', '-n', '-q', '-f', '-t', '3', '-T', '1', '-s', join(scripts, 'bound.sh')]);
    return /^bound (\S+)/m.exec(r.stdout)?.[1] ?? '';
  };

  before(async () => {
    kit = await agentTestHost({ pluginId: dhcp.id, daemonAllow: [DNSMASQ] });
    await kit.addNetworkBridge('n1');
    client = await kit.addTestNamespace('c', 'n1', '10.72.0.99/24');
    await kit.exec(client, ['ip', 'link', 'set', 'eth0', 'address', CLIENT_MAC]);
    await kit.exec(client, ['ip', 'addr', 'flush', 'dev', 'eth0']);
    scripts = mkdtempSync(join(tmpdir(), 'dhcp-test-'));
    writeFileSync(join(scripts, 'bound.sh'), '#!/bin/sh\n[ "$1" = bound ] && echo "bound $ip/$mask router $router"\nexit 0\n');
    chmodSync(join(scripts, 'bound.sh'), 0o755);
  });
  after(async () => {
    await kit?.destroy();
    if (scripts) rmSync(scripts, { recursive: true, force: true });
  });

  it("offers a known port its address (and the subnet's gateway), and a stranger nothing", async () => {
    const statuses = await dhcp.agent!.reconcile(placement([{ mac: CLIENT_MAC, ip: '10.72.0.5' }]), kit.host);
    assert.equal(statuses[0].state, RealizationState.APPLIED, statuses[0].reason);
    assert.equal(await ask(), '10.72.0.5/24');
    const observed = await dhcp.agent!.observe!(placement([{ mac: CLIENT_MAC, ip: '10.72.0.5' }]), kit.host);
    assert.equal(observed.d1.running, true);
    assert.deepEqual(observed.d1.leases.map((l) => [l.mac, l.ip]), [[CLIENT_MAC, '10.72.0.5']]);
    // A MAC it does not know is offered nothing.
    await dhcp.agent!.reconcile(placement([{ mac: '02:00:00:00:70:06', ip: '10.72.0.6' }]), kit.host);
    assert.equal(await ask(), '');
  });

  it('changes nothing when reconciled again with the same state; a new client reaches dnsmasq without a restart', async () => {
    const clients = [{ mac: CLIENT_MAC, ip: '10.72.0.7' }];
    const [first] = await dhcp.agent!.reconcile(placement(clients), kit.host);
    const before = kit.runner.mutatingCount;
    const [again] = await dhcp.agent!.reconcile(placement(clients), kit.host);
    assert.equal(kit.runner.mutatingCount, before);
    assert.equal(again.attributes?.pid, first.attributes?.pid);
    assert.equal(await ask(), '10.72.0.7/24');
  });

  it('restarts dnsmasq when it dies, and removes everything once nothing is desired', async () => {
    const clients = [{ mac: CLIENT_MAC, ip: '10.72.0.7' }];
    const [state] = await dhcp.agent!.reconcile(placement(clients), kit.host);
    process.kill(Number(state.attributes!.pid), 'SIGKILL');
    let restarted = '';
    for (let i = 0; i < 50 && !restarted; i++) {
      await new Promise((r) => setTimeout(r, 200));
      const [now] = await dhcp.agent!.reconcile(placement(clients), kit.host);
      if (now.state === RealizationState.APPLIED && now.attributes!.pid !== state.attributes!.pid) restarted = now.attributes!.pid;
    }
    assert.ok(restarted, 'dnsmasq was started again');
    assert.ok(kit.reconcileRequests.some((r) => r.includes('killed by SIGKILL')));
    await dhcp.agent!.reconcile([], kit.host);
    assert.deepEqual(await kit.host.ownedNetns(), []);
    assert.equal(await ask(), '');
  });
});
