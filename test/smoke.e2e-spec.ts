import { ControllerProcess } from './support/controller';
import { createHost, createNetwork, createPort, createSubnet } from './support/fixtures';

// A controller starts in ~1 s on a quiet machine; a loaded one (CI, parallel work) needs more.
jest.setTimeout(60_000);

describe('controller smoke', () => {
  let c: ControllerProcess;
  beforeAll(async () => {
    c = await ControllerProcess.start();
  });
  afterAll(async () => {
    await c?.destroy();
  });

  it('creates a host, network, subnet and port', async () => {
    const { host } = await createHost(c);
    const network = await createNetwork(c);
    await createSubnet(c, network.id, '10.1.0.0/24');
    const port = await createPort(c, network.id, host.id);
    expect(port.fixedIps).toEqual([expect.objectContaining({ ipAddress: '10.1.0.2' })]);
  });
});
