import type { Server } from 'node:http';
import { Counter, Registry } from 'prom-client';
import { parseListenAddress, readiness, startProbeServer, type Health } from './observability';

describe('parseListenAddress', () => {
  it('takes HOST:PORT with an IPv4 address, a name or a bracketed IPv6 address; port 0 means any', () => {
    expect(parseListenAddress('127.0.0.1:9464')).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(parseListenAddress('0.0.0.0:0')).toEqual({ host: '0.0.0.0', port: 0 });
    expect(parseListenAddress('localhost:9464')).toEqual({ host: 'localhost', port: 9464 });
    expect(parseListenAddress('[::1]:9464')).toEqual({ host: '::1', port: 9464 });
    expect(parseListenAddress('[::]:1')).toEqual({ host: '::', port: 1 });
  });

  it.each(['9464', ':9464', '127.0.0.1', '127.0.0.1:', '127.0.0.1:65536', '127.0.0.1:99999', '::1:9464', '[127.0.0.1]:9464', '[nope]:1', 'a b:1', 'host_x:1', '-x:1', ' 127.0.0.1:9464', ''])(
    'refuses %p with the form it expects',
    (text) => {
      expect(() => parseListenAddress(text)).toThrow(/^expected HOST:PORT/);
    },
  );
});

describe('readiness', () => {
  it('is ready when connected, or when a desired state was reconciled (the data plane is kept); else says why not', () => {
    expect(readiness(true, undefined)).toEqual({ status: 'ready', reason: 'connected to the controller' });
    expect(readiness(true, 7).status).toBe('ready');
    expect(readiness(false, 7)).toEqual({ status: 'ready', reason: 'data plane kept at revision 7 while the controller is away' });
    expect(readiness(false, 0).status).toBe('ready');
    expect(readiness(false, undefined)).toEqual({ status: 'unavailable', reason: 'not connected to the controller, and no desired state reconciled yet' });
  });
});

describe('startProbeServer', () => {
  let server: Server | undefined;
  let url = '';
  let health: Health = { status: 'unavailable', reason: 'not yet' };
  const registry = new Registry();
  const counter = new Counter({ name: 'netloom_agent_test_total', help: 'A test counter.', registers: [registry] });

  beforeAll(async () => {
    ({ server, url } = await startProbeServer({ address: { host: '127.0.0.1', port: 0 }, registry, readiness: () => health, log: () => undefined }));
  });
  afterAll(() => new Promise<void>((done) => (server ? server.close(() => done()) : done())));

  it('listens on the port the kernel picked and says where', () => {
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:[1-9]\d*$/);
  });

  it('answers /healthz while it runs, /readyz 503 with the reason, then 200', async () => {
    const healthz = await fetch(`${url}/healthz`);
    expect(healthz.status).toBe(200);
    expect(await healthz.json()).toEqual({ status: 'ok' });
    const notReady = await fetch(`${url}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toEqual({ status: 'unavailable', reason: 'not yet' });
    health = { status: 'ready', reason: 'connected to the controller' };
    const ready = await fetch(`${url}/readyz?verbose`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual(health);
  });

  it('serves its registry in Prometheus text format', async () => {
    counter.inc(3);
    const response = await fetch(`${url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(await response.text()).toMatch(/^netloom_agent_test_total 3$/m);
  });

  it('answers HEAD without a body, other methods 405, other paths 404', async () => {
    const head = await fetch(`${url}/healthz`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    const post = await fetch(`${url}/metrics`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    expect((await fetch(`${url}/`)).status).toBe(404);
  });

  it('refuses to start on an address in use', async () => {
    const port = Number(new URL(url).port);
    await expect(startProbeServer({ address: { host: '127.0.0.1', port }, registry, readiness: () => health, log: () => undefined })).rejects.toThrow(/EADDRINUSE/);
  });
});
