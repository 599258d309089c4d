/**
 * Authentication and authorization end to end: bearer tokens over HTTP and graphql-ws, roles,
 * token lifecycle (create, revoke, the last admin), and the once-printed bootstrap token.
 * Each describe block runs its own real controller process.
 */
import { createHash } from 'node:crypto';
import { getIntrospectionQuery } from 'graphql';
import { Client, createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { ControllerProcess, errorCode, GqlResult } from './support/controller';
import { sleep, waitFor } from './support/agent';
import { createHost, createNetwork, createPort, createSubnet, revision, uniqueName, useController } from './support/fixtures';

jest.setTimeout(60_000);

const MISSING_ID = '00000000-0000-7000-8000-000000000000';


/** A POST with exactly these headers (the harness always writes `Bearer <token>`). */
async function rawPost(c: ControllerProcess, headers: Record<string, string>, query = '{ revision }'): Promise<GqlResult> {
  const response = await fetch(c.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query }),
  });
  return { ...((await response.json()) as GqlResult), status: response.status };
}

function expectUnauthenticated(result: GqlResult): void {
  expect(result.status).toBe(401);
  expect(result.data).toBeUndefined();
  expect(result.errors).toHaveLength(1);
  expect(errorCode(result)).toBe('UNAUTHENTICATED');
}

function expectForbidden(result: GqlResult): void {
  expect(result.errors?.map((e) => e.extensions?.code)).toEqual(['FORBIDDEN']);
  expect(result.data ?? null).toBeNull();
}

interface Token {
  id: string;
  name: string;
  role: 'ADMIN' | 'VIEWER';
  createdAt: string;
  revokedAt: string | null;
}
const TOKEN_FIELDS = 'id name role createdAt revokedAt';

async function createToken(c: ControllerProcess, role: 'ADMIN' | 'VIEWER', name = uniqueName(role.toLowerCase())) {
  const data = await c.ok<{ createApiToken: { secret: string; token: Token } }>(
    `mutation($input: CreateApiTokenInput!) { createApiToken(input: $input) { secret token { ${TOKEN_FIELDS} } } }`,
    { input: { name, role } },
  );
  return data.createApiToken;
}

const REVOKE = `mutation($id: ID!) { revokeApiToken(id: $id) { ${TOKEN_FIELDS} } }`;
const ME = `{ me { ${TOKEN_FIELDS} } }`;

async function listTokens(c: ControllerProcess): Promise<Token[]> {
  return (await c.ok<{ apiTokens: Token[] }>(`{ apiTokens { ${TOKEN_FIELDS} } }`)).apiTokens;
}

describe('HTTP authentication', () => {
  const ctl = useController();

  it('refuses a request without an Authorization header with 401 UNAUTHENTICATED', async () => {
    const c = ctl();
    expectUnauthenticated(await c.gql('{ revision }', {}, null));
    expectUnauthenticated(await c.gql('{ networks { totalCount } }', {}, null));
    expectUnauthenticated(await c.gql('mutation { createNetwork(input: { name: "anon" }) { id } }', {}, null));
    expect((await c.ok('{ networks { totalCount } }')).networks.totalCount).toBe(0);
  });

  it.each([
    ['a Basic header', 'Basic x'],
    ['a bare "Bearer"', 'Bearer'],
    ['"Bearer" followed by blanks', 'Bearer    '],
    ['a token without the scheme', 'nlt_abc'],
    ['an unknown token', 'Bearer nlt_thisTokenWasNeverIssuedByThisController00000000'],
    ['two tokens', 'Bearer a b'],
  ])('refuses %s with 401 UNAUTHENTICATED', async (_what, authorization) => {
    expectUnauthenticated(await rawPost(ctl(), { authorization }));
  });

  it('refuses a correct secret under another scheme', async () => {
    const c = ctl();
    expectUnauthenticated(await rawPost(c, { authorization: `Basic ${c.adminToken}` }));
    expectUnauthenticated(await rawPost(c, { authorization: `Token ${c.adminToken}` }));
    // The scheme is case-insensitive (RFC 9110): this one is accepted.
    expect((await rawPost(c, { authorization: `bearer ${c.adminToken}` })).status).toBe(200);
  });

  it('keeps introspection closed without a token', async () => {
    const c = ctl();
    const anonymous = await c.gql('{ __schema { queryType { name } } }', {}, null);
    expectUnauthenticated(anonymous);
    expect(JSON.stringify(anonymous)).not.toContain('Query');
    expectUnauthenticated(await c.gql('{ __type(name: "Network") { name fields { name } } }', {}, null));
    expectUnauthenticated(await c.gql('{ __typename }', {}, null));
    expect(await c.ok('{ __schema { queryType { name } } }')).toEqual({ __schema: { queryType: { name: 'Query' } } });
  });

  it('answers the full introspection query that GraphiQL and code generators send, with a token', async () => {
    const c = ctl();
    expectUnauthenticated(await c.gql(getIntrospectionQuery(), {}, null));
    const result = await c.gql(getIntrospectionQuery());
    expect(result.errors).toBeUndefined();
    expect(result.status).toBe(200);
    expect(result.data.__schema.types.map((t: { name: string }) => t.name)).toEqual(expect.arrayContaining(['ApiToken', 'Network', 'Port']));
  });

  it('me is the bootstrap admin token', async () => {
    const c = ctl();
    expect(c.adminToken).toMatch(/^nlt_[A-Za-z0-9_-]{40,}$/);
    const { me } = await c.ok<{ me: Token }>(ME);
    expect(me).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      name: 'bootstrap-admin',
      role: 'ADMIN',
      createdAt: expect.any(String),
      revokedAt: null,
    });
    expect(await listTokens(c)).toEqual([me]);
  });

  it('prints the admin token once: a restart prints none and the old token still works', async () => {
    const c = ctl();
    const tokenLines = () => c.output.filter((line) => line.includes('NETLOOM_ADMIN_TOKEN'));
    expect(tokenLines()).toEqual([`NETLOOM_ADMIN_TOKEN=${c.adminToken}`]);
    const network = await createNetwork(c);
    const before = await revision(c);
    const { me } = await c.ok<{ me: Token }>(ME);

    const seen = c.output.length;
    await c.stop();
    await c.launch();
    const afterRestart = c.output.slice(seen);
    expect(afterRestart.some((line) => line.startsWith('NETLOOM_URL='))).toBe(true);
    expect(afterRestart.join('\n')).not.toContain('NETLOOM_ADMIN_TOKEN');
    expect(afterRestart.join('\n')).not.toContain('nlt_');
    expect(tokenLines()).toHaveLength(1);

    expect((await c.ok<{ me: Token }>(ME)).me).toEqual(me);
    expect(await revision(c)).toBe(before);
    expect((await c.ok(`query($id: ID!) { network(id: $id) { id name } }`, { id: network.id })).network).toEqual({
      id: network.id,
      name: network.name,
    });
    expect(await listTokens(c)).toHaveLength(1);
  });
});

describe('roles and token lifecycle', () => {
  const ctl = useController();
  let viewer: { secret: string; token: Token };
  let fixture: { hostId: string; networkId: string; subnetId: string; portId: string };

  beforeAll(async () => {
    const c = ctl();
    const { host } = await createHost(c, uniqueName('host'), '198.51.100.10');
    const network = await createNetwork(c);
    const subnet = await createSubnet(c, network.id, '10.9.0.0/24');
    const port = await createPort(c, network.id, host.id);
    fixture = { hostId: host.id, networkId: network.id, subnetId: subnet.id, portId: port.id };
  });

  it('creates a viewer token whose secret is shown once, with the nlt_ prefix', async () => {
    const c = ctl();
    const name = uniqueName('viewer');
    viewer = await createToken(c, 'VIEWER', name);
    expect(viewer.secret).toMatch(/^nlt_[A-Za-z0-9_-]{40,}$/);
    expect(viewer.secret).not.toBe(c.adminToken);
    expect(viewer.token).toEqual({ id: expect.any(String), name, role: 'VIEWER', createdAt: expect.any(String), revokedAt: null });
  });

  it('refuses a bad token name, and a viewer-created token does not exist', async () => {
    const c = ctl();
    const before = await listTokens(c);
    for (const name of ['', 'has space', '-leading', 'x'.repeat(64)]) {
      const result = await c.gql(`mutation($input: CreateApiTokenInput!) { createApiToken(input: $input) { secret } }`, {
        input: { name, role: 'VIEWER' },
      });
      expect(result.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'input.name' });
      expect(result.data ?? null).toBeNull();
    }
    expect(await listTokens(c)).toEqual(before);
  });

  it('lets the viewer read', async () => {
    const c = ctl();
    const data = await c.ok(`{ networks { totalCount } hosts { totalCount } ports { totalCount } revision changes { revision } }`, {}, viewer.secret);
    expect(data.networks.totalCount).toBe(1);
    expect(data.hosts.totalCount).toBe(1);
    expect(data.ports.totalCount).toBe(1);
    expect(data.revision).toBe(await revision(c));
    expect((await c.ok<{ me: Token }>(ME, {}, viewer.secret)).me).toEqual(viewer.token);
  });

  it('refuses every mutation of the viewer with FORBIDDEN and writes nothing', async () => {
    const c = ctl();
    const { hostId, networkId, subnetId, portId } = fixture;
    const mutations: [string, Record<string, unknown>][] = [
      ['mutation($i: CreateHostInput!) { createHost(input: $i) { host { id } } }', { i: { name: 'v-host', vtepAddress: '198.51.100.99' } }],
      ['mutation($i: CreateNetworkInput!) { createNetwork(input: $i) { id } }', { i: { name: 'v-net' } }],
      ['mutation($i: CreateSubnetInput!) { createSubnet(input: $i) { id } }', { i: { name: 'v-sub', networkId, cidr: '10.10.0.0/24' } }],
      ['mutation($i: CreatePortInput!) { createPort(input: $i) { id } }', { i: { name: 'v-port', networkId, hostId } }],
      ['mutation($i: [CreatePortInput!]!) { createPorts(inputs: $i) { id } }', { i: [{ name: 'v-port2', networkId, hostId }] }],
      ['mutation($i: UpdateHostInput!) { updateHost(input: $i) { id } }', { i: { id: hostId, name: 'renamed' } }],
      ['mutation($i: UpdateNetworkInput!) { updateNetwork(input: $i) { id } }', { i: { id: networkId, mtu: 1400 } }],
      ['mutation($i: UpdateSubnetInput!) { updateSubnet(input: $i) { id } }', { i: { id: subnetId, name: 'renamed' } }],
      ['mutation($i: UpdatePortInput!) { updatePort(input: $i) { id } }', { i: { id: portId, name: 'renamed' } }],
      ['mutation($i: DeleteInput!) { deletePort(input: $i) { deletedIds } }', { i: { id: portId } }],
      ['mutation($i: DeleteInput!) { deleteSubnet(input: $i) { deletedIds } }', { i: { id: subnetId } }],
      ['mutation($i: CascadeDeleteInput!) { deleteNetwork(input: $i) { deletedIds } }', { i: { id: networkId, cascade: true } }],
      ['mutation($i: CascadeDeleteInput!) { deleteHost(input: $i) { deletedIds } }', { i: { id: hostId, cascade: true } }],
      ['mutation($i: CreateApiTokenInput!) { createApiToken(input: $i) { secret } }', { i: { name: 'escalate', role: 'ADMIN' } }],
      ['mutation($id: ID!) { revokeApiToken(id: $id) { id } }', { id: viewer.token.id }],
      ['mutation { revision: createNetwork(input: { name: "aliased" }) { id } }', {}],
    ];
    const SNAPSHOT = `query($h: ID!, $n: ID!, $s: ID!, $p: ID!) {
      revision
      hosts { totalCount } networks { totalCount } subnets { totalCount } ports { totalCount }
      host(id: $h) { name generation } network(id: $n) { name mtu generation }
      subnet(id: $s) { name generation } port(id: $p) { name generation }
    }`;
    const ids = { h: hostId, n: networkId, s: subnetId, p: portId };
    const before = await c.ok(SNAPSHOT, ids);
    const tokensBefore = await listTokens(c);
    for (const [query, variables] of mutations) {
      const result = await c.gql(query, variables, viewer.secret);
      expect(result.status).toBe(200);
      expectForbidden(result);
    }
    expect(await c.ok(SNAPSHOT, ids)).toEqual(before);
    expect(await listTokens(c)).toEqual(tokensBefore);
    // The viewer's own token was not revoked either.
    expect((await c.ok<{ me: Token }>(ME, {}, viewer.secret)).me.revokedAt).toBeNull();
  });

  it('refuses apiTokens to the viewer', async () => {
    const c = ctl();
    const result = await c.gql(`{ apiTokens { id } }`, {}, viewer.secret);
    expectForbidden(result);
    // The refusal is per field: the rest of the query still answers.
    const mixed = await c.gql(`{ revision apiTokens { id } }`, {}, viewer.secret);
    expect(mixed.errors?.map((e) => [e.extensions?.code, (e as { path?: string[] }).path])).toEqual([['FORBIDDEN', ['apiTokens']]]);
  });

  it('lists every token to the admin, never a secret or a hash', async () => {
    const c = ctl();
    const tokens = await listTokens(c);
    expect(tokens.map((t) => [t.name, t.role])).toEqual([
      ['bootstrap-admin', 'ADMIN'],
      [viewer.token.name, 'VIEWER'],
    ]);
    const response = await c.gql(`{ apiTokens { ${TOKEN_FIELDS} } me { ${TOKEN_FIELDS} } }`);
    const text = JSON.stringify(response);
    for (const secret of [c.adminToken, viewer.secret]) {
      expect(text).not.toContain(secret);
      expect(text).not.toContain(createHash('sha256').update(secret).digest('hex'));
    }
    const schema = await c.ok(`{
      token: __type(name: "ApiToken") { fields { name } }
      payload: __type(name: "CreateApiTokenPayload") { fields { name } }
    }`);
    expect(schema.token.fields.map((f: { name: string }) => f.name).sort()).toEqual(['createdAt', 'id', 'name', 'revokedAt', 'role']);
    // The secret appears in exactly one place: the payload of createApiToken.
    expect(schema.payload.fields.map((f: { name: string }) => f.name).sort()).toEqual(['secret', 'token']);
    const unknown = await c.gql(`{ apiTokens { id tokenHash } }`);
    expect(errorCode(unknown)).toBe('GRAPHQL_VALIDATION_FAILED');
  });

  it('revokes a token at once: the next request is 401', async () => {
    const c = ctl();
    const extra = await createToken(c, 'VIEWER');
    expect((await c.gql('{ revision }', {}, extra.secret)).status).toBe(200);
    const { revokeApiToken } = await c.ok<{ revokeApiToken: Token }>(REVOKE, { id: extra.token.id });
    expect(revokeApiToken).toEqual({ ...extra.token, revokedAt: expect.any(String) });
    expectUnauthenticated(await c.gql('{ revision }', {}, extra.secret));
    expectUnauthenticated(await c.gql(ME, {}, extra.secret));
    // Revoking again is harmless and keeps the first revocation time.
    expect((await c.ok<{ revokeApiToken: Token }>(REVOKE, { id: extra.token.id })).revokeApiToken).toEqual(revokeApiToken);
    expect((await listTokens(c)).find((t) => t.id === extra.token.id)).toEqual(revokeApiToken);
  });

  it('refuses to revoke an unknown token with NOT_FOUND', async () => {
    const result = await ctl().gql(REVOKE, { id: MISSING_ID });
    expect(result.errors?.[0]?.extensions).toEqual({ code: 'NOT_FOUND', field: 'id' });
  });

  it('refuses to revoke the last admin token, and allows it once there is another', async () => {
    const c = ctl();
    const bootstrap = (await c.ok<{ me: Token }>(ME)).me;
    const refused = await c.gql(REVOKE, { id: bootstrap.id });
    expect(refused.errors?.[0]?.extensions).toEqual({ code: 'CONFLICT', field: 'id' });
    expect((await c.ok<{ me: Token }>(ME)).me.revokedAt).toBeNull();

    const second = await createToken(c, 'ADMIN');
    expect(second.token.role).toBe('ADMIN');
    const revoked = await c.ok<{ revokeApiToken: Token }>(REVOKE, { id: bootstrap.id });
    expect(revoked.revokeApiToken.revokedAt).not.toBeNull();
    expectUnauthenticated(await c.gql('{ revision }', {}, c.adminToken));

    // The second admin works, and is now the last admin: it cannot revoke itself.
    const again = await c.gql(REVOKE, { id: second.token.id }, second.secret);
    expect(again.errors?.[0]?.extensions).toEqual({ code: 'CONFLICT', field: 'id' });
    const network = await c.ok(`mutation { createNetwork(input: { name: "by-second-admin" }) { id } }`, {}, second.secret);
    expect(network.createNetwork.id).toEqual(expect.any(String));
    c.adminToken = second.secret;
  });
});

describe('websocket authentication', () => {
  const ctl = useController();
  const clients: Client[] = [];
  const client = (token: string | null): Client => {
    const ws = ctl().ws(token);
    clients.push(ws);
    return ws;
  };
  afterEach(async () => {
    for (const ws of clients.splice(0)) await ws.dispose();
  });

  const SUBSCRIPTION = 'subscription { resourceChanges { kind operation id revision } }';

  /** Subscribes and resolves with how the subscription ended: an error, a completion, or nothing in time. */
  function outcome(ws: Client, query = SUBSCRIPTION, timeoutMs = 5_000) {
    const closed: { code: number; reason: string }[] = [];
    ws.on('closed', (event) => {
      const { code, reason } = event as { code: number; reason: string };
      closed.push({ code, reason });
    });
    return new Promise<{ error?: unknown; completed?: boolean; timedOut?: boolean; next: unknown[]; closed: typeof closed }>((done) => {
      const next: unknown[] = [];
      const timer = setTimeout(() => done({ timedOut: true, next, closed }), timeoutMs);
      ws.subscribe(
        { query },
        {
          next: (value) => next.push(value),
          error: (error) => {
            clearTimeout(timer);
            done({ error, next, closed });
          },
          complete: () => {
            clearTimeout(timer);
            done({ completed: true, next, closed });
          },
        },
      );
    });
  }

  function expectClosedForbidden(result: Awaited<ReturnType<typeof outcome>>): void {
    // graphql-ws hands the sink the socket's CloseEvent: the server closed with 4403 Forbidden.
    expect(result.timedOut).toBeUndefined();
    expect(result.completed).toBeUndefined();
    expect(result.next).toEqual([]);
    expect(result.error).toEqual(expect.objectContaining({ code: 4403, reason: 'Forbidden' }));
    expect(result.closed).toEqual([{ code: 4403, reason: 'Forbidden' }]);
  }

  it('closes a connection without a token with 4403', async () => {
    expectClosedForbidden(await outcome(client(null)));
  });

  it.each([
    ['an unknown token', 'nlt_neverIssued'],
    ['an empty token', ''],
  ])('closes a connection with %s with 4403', async (_what, token) => {
    expectClosedForbidden(await outcome(client(token)));
  });

  it('closes a connection with a revoked token with 4403', async () => {
    const c = ctl();
    const viewer = await createToken(c, 'VIEWER');
    await c.ok(REVOKE, { id: viewer.token.id });
    expectClosedForbidden(await outcome(client(viewer.secret)));
  });

  it('refuses connectionParams that are not a bearer header', async () => {
    const c = ctl();
    // A client whose connectionParams carry the secret without the scheme.
    const raw = createClient({
      url: c.url.replace(/^http/, 'ws'),
      webSocketImpl: WebSocket,
      connectionParams: { authorization: c.adminToken },
      retryAttempts: 0,
      lazy: true,
    });
    clients.push(raw);
    expectClosedForbidden(await outcome(raw));
  });

  it('delivers changes to a viewer subscription when the admin creates a network', async () => {
    const c = ctl();
    const viewer = await createToken(c, 'VIEWER');
    const ws = client(viewer.secret);
    const connected = new Promise<void>((done) => ws.on('connected', () => done()));
    const events: { data?: { resourceChanges: { kind: string; operation: string; id: string; revision: number } } }[] = [];
    const errors: unknown[] = [];
    ws.subscribe(
      { query: 'subscription { resourceChanges(kinds: ["Network"]) { kind operation id revision } }' },
      { next: (value) => events.push(value as (typeof events)[number]), error: (error) => errors.push(error), complete: () => undefined },
    );
    await connected;
    // graphql-ws does not acknowledge a subscribe: create networks until the subscription sees one.
    const created: { id: string; revision: number }[] = [];
    for (let attempt = 0; attempt < 50 && events.length === 0; attempt++) {
      const network = await createNetwork(c);
      created.push({ id: network.id, revision: await revision(c) });
      await new Promise((done) => setTimeout(done, 100));
    }
    expect(errors).toEqual([]);
    expect(events.length).toBeGreaterThan(0);
    const event = events[0].data!.resourceChanges;
    expect(event).toEqual({ kind: 'Network', operation: 'CREATE', id: expect.any(String), revision: expect.any(Number) });
    expect(created).toContainEqual({ id: event.id, revision: event.revision });
  });

  /** Runs one query or mutation over the websocket: its single result, or the error the sink got. */
  function once(ws: Client, query: string) {
    return new Promise<{ result?: { data?: unknown; errors?: { message: string; extensions?: Record<string, unknown> }[] }; error?: unknown }>((done) => {
      let result: { data?: unknown; errors?: { message: string; extensions?: Record<string, unknown> }[] } | undefined;
      ws.subscribe(
        { query },
        { next: (value) => (result = value as typeof result), error: (error) => done({ error }), complete: () => done({ result }) },
      );
    });
  }

  it('applies the HTTP depth and cost limits to websocket operations too', async () => {
    const c = ctl();
    const viewer = await createToken(c, 'VIEWER');
    const ws = client(viewer.secret);
    let deep = 'id';
    for (let i = 0; i < 3; i++) deep = `ports { edges { node { network { ${deep} } } } }`;
    const tooDeep = await once(ws, `{ networks(first: 1000) { edges { node { ${deep} } } } }`);
    expect(tooDeep).toEqual({ error: [{ message: expect.stringMatching(/^query depth 16 exceeds the limit of 12/), extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } }] });
    const costly = await once(ws, '{ networks(first: 1000) { edges { node { ports { edges { node { fixedIps { subnet { network { id } } } } } } } } } }');
    expect(costly).toEqual({ error: [{ message: expect.stringMatching(/^query cost \d+ exceeds the limit of 50000/), extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } }] });
    // The connection is still usable, and a reasonable query is answered.
    expect(await once(ws, '{ networks(first: 10) { totalCount } }')).toEqual({ result: { data: { networks: { totalCount: expect.any(Number) } } } });
  });

  it('closes an open socket within 1 s when its token is revoked; an admin mutation over it no longer works', async () => {
    const c = ctl();
    const admin = await createToken(c, 'ADMIN');
    const ws = client(admin.secret);
    const closed = new Promise<{ code: number; reason: string; at: number }>((done) =>
      ws.on('closed', (event) => {
        const { code, reason } = event as { code: number; reason: string };
        done({ code, reason, at: Date.now() });
      }),
    );
    const events: unknown[] = [];
    const ended: unknown[] = [];
    ws.subscribe({ query: 'subscription { resourceChanges(kinds: ["Network"]) { id } }' }, { next: (v) => events.push(v), error: (e) => ended.push(e), complete: () => ended.push('complete') });
    // The socket has full rights: a mutation over it works.
    const made = await once(ws, 'mutation { createNetwork(input: { name: "ws-admin-before" }) { id } }');
    expect(made).toEqual({ result: { data: { createNetwork: { id: expect.any(String) } } } });

    const revokedAt = Date.now();
    await c.ok(REVOKE, { id: admin.token.id });
    const close = await Promise.race([closed, sleep(5_000).then(() => null)]);
    expect(close).toEqual({ code: 4403, reason: 'token revoked', at: expect.any(Number) });
    const closeMs = close!.at - revokedAt;
    process.stderr.write(`auth e2e: websocket closed ${closeMs} ms after the revoke was sent\n`);
    expect(closeMs).toBeLessThan(1_000);
    // The open subscription ended with the socket.
    await waitFor(() => ended.length === 1, 1_000, 10, 'the subscription to end');
    expect(ended).toEqual([expect.objectContaining({ code: 4403 })]);

    // The same client (it connects again with the same token) can no longer write.
    const before = await revision(c);
    const refused = await once(ws, 'mutation { createNetwork(input: { name: "ws-admin-after" }) { id } }');
    expect(refused.result).toBeUndefined();
    expect(refused.error).toEqual(expect.objectContaining({ code: 4403 }));
    expect(await revision(c)).toBe(before);
    expect((await c.ok('{ networks(filter: { name: "ws-admin-after" }) { totalCount } }')).networks.totalCount).toBe(0);
  });

  it('refuses an operation on a socket whose token was revoked, and closes it', async () => {
    // A raw graphql-transport-ws client that sends its mutation right after the revoke, without
    // waiting for the close: whatever reaches the controller before the socket is gone is refused.
    const c = ctl();
    const admin = await createToken(c, 'ADMIN');
    const raw = new WebSocket(c.url.replace(/^http/, 'ws'), 'graphql-transport-ws');
    const received: { type: string; id?: string; payload?: unknown }[] = [];
    raw.on('message', (data: Buffer) => received.push(JSON.parse(data.toString('utf8'))));
    const closed = new Promise<number>((done) => raw.once('close', (code) => done(code)));
    await new Promise((done, fail) => {
      raw.once('open', done);
      raw.once('error', fail);
    });
    raw.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${admin.secret}` } }));
    await waitFor(() => received.some((m) => m.type === 'connection_ack'), 5_000, 20, 'connection_ack');
    const before = await revision(c);
    await c.ok(REVOKE, { id: admin.token.id });
    if (raw.readyState === WebSocket.OPEN) {
      raw.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: 'mutation { createNetwork(input: { name: "raw-after" }) { id } }' } }));
    }
    expect(await Promise.race([closed, sleep(5_000).then(() => 'still open')])).toBe(4403);
    expect(received.filter((m) => m.type === 'next')).toEqual([]);
    expect(await revision(c)).toBe(before);
  });

  it('refuses a mutation over the websocket to a viewer with FORBIDDEN', async () => {
    const c = ctl();
    const viewer = await createToken(c, 'VIEWER');
    const before = await revision(c);
    const ws = client(viewer.secret);
    const result = await new Promise<{ errors?: { extensions?: { code?: string } }[] }>((done, fail) => {
      let value: { errors?: { extensions?: { code?: string } }[] } = {};
      ws.subscribe(
        { query: 'mutation { createNetwork(input: { name: "ws-viewer" }) { id } }' },
        { next: (v) => (value = v as typeof value), error: fail, complete: () => done(value) },
      );
    });
    expect(result.errors?.map((e) => e.extensions?.code)).toEqual(['FORBIDDEN']);
    expect(await revision(c)).toBe(before);
  });
});
