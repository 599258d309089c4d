import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket, { WebSocketServer } from 'ws';
import { controllerTransport } from './transport';

describe('controllerTransport', () => {
  it('maps an http(s) base URL as before', () => {
    expect(controllerTransport('http://127.0.0.1:8080').websocketUrl).toBe('ws://127.0.0.1:8080/agent');
    expect(controllerTransport('https://c.example:443').websocketUrl).toBe('wss://c.example:443/agent');
  });

  it('dials plain http only on this machine unless allowed; https anywhere, with the CA given', () => {
    expect(controllerTransport('http://localhost:8080').websocketUrl).toBe('ws://localhost:8080/agent');
    expect(controllerTransport('http://[::1]:8080').websocketUrl).toBe('ws://[::1]:8080/agent');
    expect(() => controllerTransport('http://192.0.2.1:8080')).toThrow(/refusing plain http to 192\.0\.2\.1:8080/);
    expect(() => controllerTransport('http://c.example')).toThrow(/--allow-insecure-http/);
    expect(controllerTransport('http://192.0.2.1:8080', { allowInsecureHttp: true }).websocketUrl).toBe('ws://192.0.2.1:8080/agent');
    expect(controllerTransport('https://c.example', { ca: 'PEM' }).websocketOptions).toEqual({ ca: 'PEM' });
    expect(controllerTransport('https://c.example').websocketOptions).toEqual({});
  });

  it('maps unix:/path to the ws+unix form ws reads', () => {
    expect(controllerTransport('unix:/run/netloom/agents.sock').websocketUrl).toBe('ws+unix:/run/netloom/agents.sock:/agent');
  });

  it.each(['ftp://x', 'unix:relative.sock', 'unix:/a:b.sock', 'unix:/a b.sock', 'unix:/a/../b.sock', `unix:/${'s'.repeat(107)}`, '127.0.0.1:8080'])(
    'refuses %s',
    (address) => {
      expect(() => controllerTransport(address)).toThrow(/controller/);
    },
  );

  describe('over a Unix socket', () => {
    let dir: string;
    let server: Server;
    let wss: WebSocketServer;
    const seen: { method?: string; url?: string; body: string; auth?: string }[] = [];

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'netloom-transport-'));
      server = createServer((req, res) => {
        let body = '';
        req.on('data', (chunk: Buffer) => (body += chunk.toString()));
        req.on('end', () => {
          seen.push({ method: req.method, url: req.url, body });
          res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
        });
      });
      wss = new WebSocketServer({ server, path: '/agent' });
      wss.on('connection', (ws, req) => {
        seen.push({ url: req.url, body: '', auth: req.headers.authorization });
        ws.send('hi');
      });
      await new Promise<void>((done) => server.listen(join(dir, 'c.sock'), done));
    });

    afterAll(async () => {
      wss.close();
      await new Promise((done) => server.close(done));
      rmSync(dir, { recursive: true, force: true });
    });

    it('posts JSON and opens the agent websocket with its headers', async () => {
      const transport = controllerTransport(`unix:${join(dir, 'c.sock')}`);
      expect(await transport.postJson('/agent/join', { joinToken: 'nlj_x' })).toEqual({ status: 200, text: '{"ok":true}' });
      const ws = new WebSocket(transport.websocketUrl, { headers: { authorization: 'Bearer nlh_y' } });
      const first = await new Promise<string>((done, fail) => {
        ws.once('message', (data: Buffer) => done(data.toString()));
        ws.once('error', fail);
      });
      ws.close();
      expect(first).toBe('hi');
      expect(seen).toEqual([
        { method: 'POST', url: '/agent/join', body: '{"joinToken":"nlj_x"}' },
        { url: '/agent', body: '', auth: 'Bearer nlh_y' },
      ]);
    });

    it('fails when nothing listens', async () => {
      await expect(controllerTransport(`unix:${join(dir, 'none.sock')}`).postJson('/agent/join', {})).rejects.toThrow(/ENOENT/);
    });
  });
});
