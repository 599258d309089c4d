import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { RealizationState } from '@netloom/plugin-sdk';
import { agentTestHost, type AgentTestHost } from '@netloom/plugin-sdk/testing';
import { portBlock, type PortBlockPlacement } from '../src/index';

// The agent half against the real kernel (as root), in a throwaway host made by the SDK's test kit.
const asRoot = process.getuid?.() === 0;

describe('PortBlock: agent half on the real kernel', { skip: !asRoot && 'needs root' }, () => {
  let kit: AgentTestHost;
  let client: string;
  let server: string;
  const desired = (destinations: string[]) => [{ kind: 'PortBlock', id: 'b1', generation: 1, spec: { portId: 'p1', destinations } satisfies PortBlockPlacement }];
  const ping = async (): Promise<number> => (await kit.exec(client, ['ping', '-c1', '-W1', '10.66.0.3'])).code;

  before(async () => {
    kit = await agentTestHost({ pluginId: portBlock.id });
    await kit.addNetworkBridge('n1');
    client = await kit.addTestNamespace('c', 'n1', '10.66.0.2/24', { portId: 'p1' });
    server = await kit.addTestNamespace('s', 'n1', '10.66.0.3/24');
  });
  after(async () => {
    await kit?.destroy();
  });

  it('drops the connections the port opens to a blocked network and counts them; the port still answers', async () => {
    assert.equal(await ping(), 0);
    const statuses = await portBlock.agent!.reconcile(desired(['10.66.0.3/32']), kit.host);
    assert.deepEqual(statuses.map((s) => s.state), [RealizationState.APPLIED]);
    assert.notEqual(await ping(), 0);
    const observed = await portBlock.agent!.observe!(desired(['10.66.0.3/32']), kit.host);
    assert.equal(observed.b1.dropped, 1);
    // The blocked network may still open connections to the port: its answers pass.
    assert.equal((await kit.exec(server, ['ping', '-c1', '-W1', '10.66.0.2'])).code, 0);
  });

  it('changes nothing when reconciled again with the same state', async () => {
    const before = kit.runner.mutatingCount;
    await portBlock.agent!.reconcile(desired(['10.66.0.3/32']), kit.host);
    assert.equal(kit.runner.mutatingCount, before);
  });

  it('removes its table once the block is no longer desired', async () => {
    await portBlock.agent!.reconcile([], kit.host);
    assert.equal(await ping(), 0);
    assert.equal(await kit.host.nftList(client), null);
  });
});
