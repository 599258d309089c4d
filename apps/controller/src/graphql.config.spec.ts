import { GraphQLError } from 'graphql';
import type { DataSource } from 'typeorm';
import { Role } from './auth/api-token.entity';
import type { AuthService } from './auth/auth.service';
import { loadConfig } from './config';
import { graphqlOptions, hostCounter } from './graphql.config';

type Hook = (ctx: unknown, id: string, payload: { query: string }) => Promise<unknown>;

function setUp(valid: boolean) {
  const auth = { authenticate: jest.fn(() => Promise.resolve(valid ? { tokenId: 't1', name: 'admin', role: Role.ADMIN } : null)) };
  const options = graphqlOptions(loadConfig([], {}), auth as unknown as AuthService, {} as DataSource);
  const onSubscribe = (options.subscriptions as { 'graphql-ws': { onSubscribe: Hook } })['graphql-ws'].onSubscribe;
  const socket = { readyState: 1, CLOSED: 3, close: jest.fn(), terminate: jest.fn() };
  const ctx = { extra: { socket, principal: { tokenId: 't1' }, authorization: 'Bearer nlt_x' } };
  return { auth, onSubscribe, socket, ctx };
}

describe('graphql-ws onSubscribe', () => {
  it('checks the token again for every operation and closes the socket once it is no longer valid', async () => {
    const { auth, onSubscribe, socket, ctx } = setUp(false);
    const result = await onSubscribe(ctx, '1', { query: 'mutation { createNetwork(input: { name: "x" }) { id } }' });
    expect(auth.authenticate).toHaveBeenCalledWith('Bearer nlt_x');
    expect(result).toEqual([expect.any(GraphQLError)]);
    expect((result as GraphQLError[])[0].extensions).toEqual({ code: 'UNAUTHENTICATED' });
    expect(socket.close).toHaveBeenCalledWith(4403, 'token revoked');
  });

  it('lets an operation of a valid token through', async () => {
    const { onSubscribe, socket, ctx } = setUp(true);
    expect(await onSubscribe(ctx, '1', { query: '{ revision }' })).toBeUndefined();
    expect(socket.close).not.toHaveBeenCalled();
  });
});

describe('hostCounter (what bounds a status list’s cost)', () => {
  it('counts once, and again only after a host change was committed (a failed count is not kept)', async () => {
    let hosts = 3;
    const count = jest.fn(() => (hosts < 0 ? Promise.reject(new Error('store away')) : Promise.resolve(hosts)));
    let listener: (changes: { kind: string }[]) => void = () => undefined;
    const counter = hostCounter({ getRepository: () => ({ count }) } as unknown as DataSource, { onCommit: (l) => void (listener = l as typeof listener) });
    expect([await counter(), await counter()]).toEqual([3, 3]);
    expect(count).toHaveBeenCalledTimes(1);
    hosts = 4;
    listener([{ kind: 'Port' }]);
    expect(await counter()).toBe(3);
    listener([{ kind: 'Port' }, { kind: 'Host' }]);
    expect(await counter()).toBe(4);
    hosts = -1;
    listener([{ kind: 'Host' }]);
    await expect(counter()).rejects.toThrow('store away');
    hosts = 5;
    expect(await counter()).toBe(5);
    expect(count).toHaveBeenCalledTimes(4);
    // Without a change feed: counted every time.
    const plain = hostCounter({ getRepository: () => ({ count }) } as unknown as DataSource);
    expect([await plain(), await plain()]).toEqual([5, 5]);
    expect(count).toHaveBeenCalledTimes(6);
  });
});
