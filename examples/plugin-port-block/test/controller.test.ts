import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inMemoryIntent, runController } from '@netloom/plugin-sdk/testing';
import { portBlock } from '../src/index';

// The controller half against an in-memory intent, with the SDK's test kit.
const intent = inMemoryIntent({
  hosts: [{ id: 'h1' }, { id: 'h2' }],
  networks: [{ id: 'n1' }],
  ports: [
    { id: 'p1', networkId: 'n1', hostId: 'h2' },
    { id: 'p2', networkId: 'n1', hostId: 'h1' },
  ],
  resources: [{ id: 'other', kind: 'PortBlock', name: 'taken', spec: { portId: 'p2', destinations: ['10.9.0.0/16'] } }],
});

describe('PortBlock: controller half', () => {
  it("is placed on its port's host with the networks to drop", async () => {
    const { placements } = await runController(portBlock, 'PortBlock', { id: 'b1', spec: { portId: 'p1', destinations: ['10.8.0.0/16', 'fd00::/64'] } }, intent);
    assert.deepEqual(placements, [{ hostId: 'h2', spec: { portId: 'p1', destinations: ['10.8.0.0/16', 'fd00::/64'] } }]);
  });

  it('refuses a block without destinations, and a second block on one port', async () => {
    await assert.rejects(runController(portBlock, 'PortBlock', { id: 'b1', spec: { portId: 'p1', destinations: [] } }, intent), {
      code: 'BAD_USER_INPUT',
      field: 'input.destinations',
    });
    await assert.rejects(runController(portBlock, 'PortBlock', { id: 'b1', spec: { portId: 'p2', destinations: ['10.8.0.0/16'] } }, intent), {
      code: 'CONFLICT',
      message: /already has PortBlock taken/,
    });
  });
});
