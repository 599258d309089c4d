import { ControllerOptions, ControllerProcess } from './controller';

let makeDatabase: (() => Promise<string>) | undefined;

/**
 * From now on, every controller `useController` starts gets a database of its own from `make`
 * (a PostgreSQL URL): the e2e-postgres project's setup (`postgres-suite.ts`) calls it.
 */
export function useTestDatabases(make: () => Promise<string>): void {
  makeDatabase = make;
}

/** The store this run's controllers use. */
export const testStore = (): 'sqlite' | 'postgres' => (makeDatabase ? 'postgres' : 'sqlite');

/** Options for a new controller of this run: a fresh PostgreSQL database in the e2e-postgres project, else none (SQLite). */
export async function controllerOptions(): Promise<ControllerOptions> {
  return makeDatabase ? { database: await makeDatabase() } : {};
}

/** One controller per describe block, always destroyed afterwards; call the result inside tests. */
export function useController(): () => ControllerProcess {
  let c: ControllerProcess | undefined;
  beforeAll(async () => {
    c = await ControllerProcess.start(await controllerOptions());
  });
  afterAll(async () => {
    await c?.destroy();
  });
  return () => {
    if (!c) throw new Error('controller did not start');
    return c;
  };
}

let sequence = 0;
/** Names unique within a run, so tests never depend on each other's leftovers. */
export const uniqueName = (base: string): string => `${base}-${process.pid}-${++sequence}`;

export async function createHost(c: ControllerProcess, name = uniqueName('host'), vtepAddress = `192.0.2.${(sequence % 250) + 1}`) {
  const data = await c.ok<{ createHost: { host: { id: string; name: string; generation: number }; joinToken: string } }>(
    `mutation($input: CreateHostInput!) { createHost(input: $input) { host { id name generation vtepAddress } joinToken } }`,
    { input: { name, vtepAddress } },
  );
  return data.createHost;
}

export async function createNetwork(c: ControllerProcess, input: Record<string, unknown> = {}) {
  const data = await c.ok<{ createNetwork: { id: string; name: string; vni: number; generation: number } }>(
    `mutation($input: CreateNetworkInput!) { createNetwork(input: $input) { id name vni mtu generation } }`,
    { input: { name: uniqueName('net'), ...input } },
  );
  return data.createNetwork;
}

export async function createSubnet(c: ControllerProcess, networkId: string, cidr: string, input: Record<string, unknown> = {}) {
  const data = await c.ok<{ createSubnet: { id: string; cidr: string; gatewayIp: string; generation: number } }>(
    `mutation($input: CreateSubnetInput!) { createSubnet(input: $input) { id cidr gatewayIp generation allocationPools { start end } } }`,
    { input: { name: uniqueName('subnet'), networkId, cidr, ...input } },
  );
  return data.createSubnet;
}

export const PORT_FIELDS = 'id name macAddress generation netns networkId hostId fixedIps { ipAddress subnetId }';

export async function createPort(c: ControllerProcess, networkId: string, hostId: string, input: Record<string, unknown> = {}) {
  const data = await c.ok<{ createPort: { id: string; name: string; macAddress: string; generation: number; fixedIps: { ipAddress: string; subnetId: string }[] } }>(
    `mutation($input: CreatePortInput!) { createPort(input: $input) { ${PORT_FIELDS} } }`,
    { input: { name: uniqueName('port'), networkId, hostId, ...input } },
  );
  return data.createPort;
}

/** The current revision of the change feed: a test of "nothing written" compares it before and after. */
export async function revision(c: ControllerProcess): Promise<number> {
  return (await c.ok<{ revision: number }>('{ revision }')).revision;
}
