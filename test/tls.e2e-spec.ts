// TLS: the controller serves HTTPS and WSS itself; agents verify it against the CA they are given;
// plain HTTP where other machines could listen is refused. The CA, the controller's certificate
// and a stranger CA are made by the test with openssl, in a temporary folder.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { ControllerProcess } from './support/controller';
import { AgentProcess, baseUrl, waitFor } from './support/agent';
import { runCli, startWatch, untilShown } from './support/cli';
import { uniqueName } from './support/fixtures';
import { httpsGql, makeCa, makeServerCert } from './support/tls';

jest.setTimeout(90_000);

const dir = mkdtempSync(join(tmpdir(), 'netloom-e2e-tls-'));
const path = (name: string): string => join(dir, name);

describe('TLS', () => {
  let c: ControllerProcess;
  let ca = '';
  const agents: AgentProcess[] = [];

  beforeAll(async () => {
    makeCa(dir, 'netloom-test-ca');
    makeCa(dir, 'stranger-ca');
    makeServerCert(dir, 'netloom-test-ca');
    ca = execFileSync('cat', [path('netloom-test-ca.crt')]).toString();
    c = new ControllerProcess(path('data'));
    await c.launch(['--tls-cert', path('server.crt'), '--tls-key', path('server.key')]);
  });

  afterAll(async () => {
    for (const agent of agents) await agent.stop();
    await c?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves GraphQL over HTTPS to a client that trusts its CA, and nothing in clear', async () => {
    expect(c.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/graphql$/);
    expect(await httpsGql(c.url, c.adminToken, '{ revision }', {}, ca)).toEqual({ data: { revision: expect.any(Number) } });
    // Without the CA the client refuses the server.
    await expect(httpsGql(c.url, c.adminToken, '{ revision }')).rejects.toThrow(/self[- ]signed|unable to verify|certificate/i);
    // Plain HTTP to the same port gets no GraphQL answer.
    const plain = new Promise<number>((done, fail) => {
      const req = httpRequest(c.url.replace(/^https/, 'http'), { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => done(res.statusCode ?? 0));
      req.on('error', fail);
      req.end('{"query":"{ revision }"}');
    });
    await expect(plain).rejects.toThrow();
  });

  it('serves subscriptions over WSS', async () => {
    class TrustingWebSocket extends WebSocket {
      constructor(address: string, protocols?: string | string[]) {
        super(address, protocols, { ca });
      }
    }
    const client = createClient({
      url: c.url.replace(/^https/, 'wss'),
      webSocketImpl: TrustingWebSocket,
      connectionParams: { authorization: `Bearer ${c.adminToken}` },
      retryAttempts: 0,
      lazy: true,
    });
    try {
      const name = uniqueName('wss');
      const seen = new Promise<unknown>((done, fail) => {
        const stop = client.subscribe(
          { query: 'subscription { resourceChanges(kinds: ["Network"]) { kind operation } }' },
          { next: (value) => { stop(); done(value); }, error: fail, complete: () => undefined },
        );
      });
      // The subscription is open once graphql-ws says connected; then make a change over HTTPS.
      await new Promise<void>((done) => client.on('connected', () => done()));
      await httpsGql(c.url, c.adminToken, 'mutation($input: CreateNetworkInput!) { createNetwork(input: $input) { id } }', { input: { name } }, ca);
      expect(await seen).toEqual({ data: { resourceChanges: { kind: 'Network', operation: 'CREATE' } } });
    } finally {
      await client.dispose();
    }
  });

  it('an agent verifies the controller: a stranger CA fails before the join token is spent; the right CA joins over HTTPS and WSS', async () => {
    const created = await httpsGql(c.url, c.adminToken,
      'mutation($input: CreateHostInput!) { createHost(input: $input) { host { id } joinToken } }',
      { input: { name: uniqueName('tls-host'), vtepAddress: '192.0.2.77' } }, ca);
    const { host, joinToken } = (created.data as { createHost: { host: { id: string }; joinToken: string } }).createHost;

    const wrong = await AgentProcess.start({
      controllerUrl: baseUrl(c.url), joinToken, prefix: 'tla', stateDir: path('agent-wrong'), extraArgs: ['--ca', path('stranger-ca.crt')],
    });
    agents.push(wrong);
    await wrong.waitForLog(/self[- ]signed|unable to verify|certificate/i, 20_000);
    await wrong.stop();

    const right = await AgentProcess.start({
      controllerUrl: baseUrl(c.url), joinToken, prefix: 'tlb', stateDir: path('agent-right'), extraArgs: ['--ca', path('netloom-test-ca.crt')],
    });
    agents.push(right);
    const query = '{ revision hosts(first: 100) { edges { node { id agent { connected appliedRevision } } } } }';
    await waitFor(
      async () => {
        const data = (await httpsGql(c.url, c.adminToken, query, {}, ca)).data as {
          revision: number;
          hosts: { edges: { node: { id: string; agent: { connected: boolean; appliedRevision: number } | null } }[] };
        };
        const agent = data.hosts.edges.find((e) => e.node.id === host.id)?.node.agent;
        return agent?.connected && agent.appliedRevision >= data.revision;
      },
      30_000, 200, 'the agent connected over WSS and up to date',
    );
  });

  it('the netloom CLI trusts the CA given at login, over HTTPS and WSS, and refuses the server without it', async () => {
    const config = path('cli-config.yaml');
    const refused = await runCli(config, ['--context', 'tls', 'login', '--url', c.url, '--token', c.adminToken]);
    expect([refused.code, refused.stderr]).toEqual([1, expect.stringMatching(/^error: cannot reach .*(self[- ]signed|unable to verify|certificate)/i)]);
    const login = await runCli(config, ['--context', 'tls', 'login', '--url', c.url, '--token', c.adminToken, '--ca', path('netloom-test-ca.crt')]);
    expect([login.code, login.stderr]).toEqual([0, '']);
    const hosts = await runCli(config, ['get', 'hosts', '-o', 'json']);
    expect([hosts.code, Array.isArray(JSON.parse(hosts.stdout))]).toEqual([0, true]);
    const watch = await startWatch(config, ['networks']);
    try {
      const made = async (): Promise<string> => {
        const name = uniqueName('cli-tls');
        await httpsGql(c.url, c.adminToken, 'mutation($name: String!) { createNetwork(input: { name: $name }) { id } }', { name }, ca);
        return name;
      };
      expect(await untilShown(made, watch.stdout)).toMatch(/^cli-tls-/);
    } finally {
      expect(await watch.stop()).toBe(0);
    }
  });
});

describe('plain HTTP off this machine', () => {
  it('is refused at start unless explicitly allowed', async () => {
    const data = mkdtempSync(join(tmpdir(), 'netloom-e2e-plain-'));
    const c = new ControllerProcess(data);
    try {
      await expect(c.launch(['--host', '0.0.0.0'])).rejects.toThrow(/refusing to serve plain HTTP on 0\.0\.0\.0.*--allow-insecure-http/);
    } finally {
      await c.stop();
      rmSync(data, { recursive: true, force: true });
    }
  });

  it('an agent refuses to dial a controller off this machine over plain HTTP', async () => {
    const state = mkdtempSync(join(tmpdir(), 'netloom-e2e-plain-agent-'));
    try {
      const agent = await AgentProcess.start({ controllerUrl: 'http://192.0.2.1:8080', joinToken: 'nlj_x', prefix: 'tlc', stateDir: state });
      await agent.waitForLog(/refusing plain http to 192\.0\.2\.1:8080/, 10_000);
      await agent.waitForLog(/\[exit\] .* code 1/, 10_000);
    } finally {
      rmSync(state, { recursive: true, force: true });
    }
  });
});
