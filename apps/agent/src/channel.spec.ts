import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, IncomingMessage, Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket, { WebSocketServer } from 'ws';
import { DesiredResource } from '@netloom/model';
import { AgentMessage, HOST_CREDENTIAL, JoinRequest, parseAgentMessage, ProbeMessage, ProbeResultMessage } from '@netloom/protocol';
import { ControllerChannel } from './channel';
import { StateStore } from './state-store';

/** Just enough of a controller on a Unix socket: answers joins, and a snapshot to every hello. */
class FakeController {
  readonly joins: JoinRequest[] = [];
  readonly hellos: { lastRevision: number; authorization?: string }[] = [];
  /** Websocket upgrade requests seen, answered or refused. */
  dials = 0;
  /** Answer upgrades with this HTTP status instead of accepting them. */
  refuseWith: number | undefined;
  /** Accept channels but never send anything (a controller hung, or the network between cut). */
  silent = false;
  revision = 1;
  /** Every message the agents sent after hello. */
  readonly received: AgentMessage[] = [];
  /** The open channels, to send on. */
  readonly sockets: WebSocket[] = [];
  private server: Server | undefined;
  private wss: WebSocketServer | undefined;

  constructor(readonly path: string) {}

  get address(): string {
    return `unix:${this.path}`;
  }

  async start(): Promise<void> {
    const wss = new WebSocketServer({ noServer: true });
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        const join = JSON.parse(body) as JoinRequest;
        this.joins.push(join);
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ hostId: 'h1', hostName: 'host-1', credential: join.credential }));
      });
    });
    server.on('upgrade', (req: IncomingMessage, socket, head) => {
      this.dials++;
      if (this.refuseWith !== undefined) {
        socket.end(`HTTP/1.1 ${this.refuseWith} Refused\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        this.sockets.push(ws);
        ws.on('message', (data: Buffer) => {
          const message = parseAgentMessage(data.toString());
          if (typeof message !== 'string' && message.type !== 'hello') this.received.push(message);
          if (typeof message === 'string' || message.type !== 'hello' || this.silent) return;
          this.hellos.push({ lastRevision: message.lastRevision, authorization: req.headers.authorization });
          const resources: DesiredResource[] = [{ kind: 'Network', id: 'n1', generation: this.revision, spec: {} }];
          ws.send(JSON.stringify({ type: 'snapshot', revision: this.revision, resources }));
        });
      });
    });
    await new Promise<void>((done) => server.listen(this.path, done));
    this.server = server;
    this.wss = wss;
  }

  /** Gone at once, as after kill -9: open channels cut, the socket file removed. */
  async crash(): Promise<void> {
    for (const ws of this.wss?.clients ?? []) ws.terminate();
    this.server?.closeAllConnections();
    await new Promise((done) => this.server?.close(done));
  }
}

async function until(what: string, predicate: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((done) => setTimeout(done, 20));
  }
}

describe('ControllerChannel with several controllers', () => {
  let dir: string;
  const controllers: FakeController[] = [];
  const channels: ControllerChannel[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'netloom-channel-'));
  });

  afterEach(async () => {
    for (const channel of channels.splice(0)) channel.stop();
    for (const controller of controllers.splice(0)) await controller.crash().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  function controller(name: string): FakeController {
    const made = new FakeController(join(dir, `${name}.sock`));
    controllers.push(made);
    return made;
  }

  /** A channel whose "reconciler" applies every desired state at once. */
  function channel(store: StateStore, addresses: string[], heartbeatMs?: number, onProbe?: (m: ProbeMessage) => Promise<ProbeResultMessage>) {
    const lines: string[] = [];
    const desired: { revision: number; snapshot: boolean }[] = [];
    let applied = store.readDesired()?.revision ?? 0;
    const made = new ControllerChannel(store, {
      controllers: addresses,
      joinToken: 'nlj_test',
      hello: () => ({ protocol: 1, agentVersion: 'test', capabilities: [], plugins: [], kernel: 'test' }),
      lastRevision: () => applied,
      onDesired: (revision, _resources, snapshot) => {
        desired.push({ revision, snapshot });
        applied = revision;
      },
      onConnected: () => undefined,
      onHostDeleted: () => undefined,
      stateError: () => null,
      log: (line) => lines.push(line),
      heartbeatMs,
      onProbe,
    });
    channels.push(made);
    return { channel: made, lines, desired };
  }

  it('joins at the first controller that answers, and moves to the next when its channel goes away, resuming from its revision', async () => {
    const a = controller('a');
    const b = controller('b');
    await b.start();
    const store = new StateStore(join(dir, 'state'), { log: () => undefined });
    const { channel: ch, lines, desired } = channel(store, [a.address, b.address]);

    // a is not there: the join goes to b after the first backoff step.
    expect(await ch.ensureCredentialRetrying()).toBe('h1');
    expect(lines[0]).toMatch(new RegExp(`join: no answer .*ENOENT.*; retrying in 250 ms at ${b.address}`));
    expect(b.joins).toEqual([{ joinToken: 'nlj_test', credential: expect.stringMatching(HOST_CREDENTIAL) }]);
    const bearer = `Bearer ${b.joins[0].credential}`;

    b.revision = 7;
    ch.start();
    await until('the snapshot from b', () => desired.length === 1);
    expect(b.hellos).toEqual([{ lastRevision: 0, authorization: bearer }]);
    expect(store.readController()).toEqual({ address: b.address });

    a.revision = 9;
    await a.start();
    await b.crash();
    await until('the snapshot from a', () => desired.length === 2);
    // Same credential, and the revision applied from b: a resumes from it.
    expect(a.hellos).toEqual([{ lastRevision: 7, authorization: bearer }]);
    expect(desired).toEqual([
      { revision: 7, snapshot: true },
      { revision: 9, snapshot: true },
    ]);
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`channel to ${b.address} closed \\(1006\\); dialling ${a.address} in 250 ms`)));
    expect(lines).toContainEqual(`connected to controller ${a.address}`);
    expect(store.readController()).toEqual({ address: a.address });
    expect(b.joins).toHaveLength(1);
    expect(a.joins).toHaveLength(0);
  });

  it('leaves a controller that refuses the channel for the next one; a new channel dials first the one that answered last', async () => {
    const a = controller('a');
    const b = controller('b');
    await a.start();
    await b.start();
    const store = new StateStore(join(dir, 'state'), { log: () => undefined });
    store.writeCredentialNow({ hostId: 'h1', credential: `nlh_${'x'.repeat(43)}` });
    // a answered last time, but now refuses (its database is down, say).
    store.writeController({ address: a.address });
    a.refuseWith = 503;

    const first = channel(store, [a.address, b.address]);
    expect(await first.channel.ensureCredentialRetrying()).toBe('h1');
    first.channel.start();
    await until('the snapshot from b', () => first.desired.length === 1);
    expect([a.dials, b.dials]).toEqual([1, 1]);
    expect(first.lines).toContainEqual('controller refused the connection: HTTP 503');
    expect(store.readController()).toEqual({ address: b.address });
    first.channel.stop();

    // The next start (the agent restarted) goes to b first; a, which answers again, is not dialled.
    a.refuseWith = undefined;
    const second = channel(store, [a.address, b.address]);
    second.channel.start();
    await until('the snapshot from b again', () => second.desired.length === 1);
    expect([a.dials, b.dials]).toEqual([1, 2]);
    expect(b.hellos.map((h) => h.lastRevision)).toEqual([0, 1]);
  });

  it('leaves a controller that stays silent past three heartbeats for the next one', async () => {
    const a = controller('a');
    const b = controller('b');
    await a.start();
    await b.start();
    a.silent = true;
    const store = new StateStore(join(dir, 'state'), { log: () => undefined });
    store.writeCredentialNow({ hostId: 'h1', credential: `nlh_${'x'.repeat(43)}` });
    const { channel: ch, lines, desired } = channel(store, [a.address, b.address], 100);
    ch.start();
    await until('the snapshot from b', () => desired.length === 1);
    expect(a.hellos).toEqual([]);
    expect(b.hellos).toHaveLength(1);
    expect(lines).toContainEqual('controller silent: reconnecting');
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`channel to ${a.address} closed \\(1006\\); dialling ${b.address}`)));
  });

  it('with one controller, dials the same one again after it comes back', async () => {
    const a = controller('a');
    await a.start();
    const store = new StateStore(join(dir, 'state'), { log: () => undefined });
    const { channel: ch, lines, desired } = channel(store, [a.address]);
    await ch.ensureCredentialRetrying();
    ch.start();
    await until('the first snapshot', () => desired.length === 1);
    await a.crash();
    a.revision = 3;
    await new Promise((done) => setTimeout(done, 400));
    await a.start();
    await until('the snapshot after the restart', () => desired.length === 2);
    expect(a.hellos.map((h) => h.lastRevision)).toEqual([0, 1]);
    expect(lines.filter((l) => /dialling|connected to/.test(l))).toEqual([]);
  });

  it('answers a probe on the channel it came by; a message type it does not know is logged and the session goes on', async () => {
    const c = controller('c');
    await c.start();
    const store = new StateStore(join(dir, 'state'), { log: () => undefined });
    const asked: ProbeMessage[] = [];
    const { channel: ch, lines, desired } = channel(store, [c.address], undefined, (m) => {
      asked.push(m);
      return Promise.resolve({ type: 'probe-result', id: m.id, counters: [{ packets: { 'netloom fw p 1 ALLOW': 3 } }] });
    });
    await ch.ensureCredentialRetrying();
    ch.start();
    await until('the snapshot', () => desired.length === 1);
    const [ws] = c.sockets;
    ws.send(JSON.stringify({ type: 'something-newer', id: 'x' }));
    ws.send(JSON.stringify({ type: 'probe', id: 'q1', read: [{ portId: 'p1' }] }));
    await until('the probe result', () => c.received.some((m) => m.type === 'probe-result'));
    expect(asked).toEqual([{ type: 'probe', id: 'q1', read: [{ portId: 'p1' }] }]);
    expect(c.received.filter((m) => m.type === 'probe-result')).toEqual([{ type: 'probe-result', id: 'q1', counters: [{ packets: { 'netloom fw p 1 ALLOW': 3 } }] }]);
    expect(lines).toContainEqual('bad message from controller: unknown message type something-newer');
    // Still the same session: an update after both is applied.
    ws.send(JSON.stringify({ type: 'update', revision: 2, upserts: [], deletes: [] }));
    await until('the update', () => desired.length === 2);
    expect(c.dials).toBe(1);
  });

  it('applies a patch of a spec it holds; one of a spec it does not hold takes nothing, and a new channel asks for a snapshot', async () => {
    const c = controller('c');
    await c.start();
    const store = new StateStore(join(dir, 'state'), { log: () => undefined });
    const { channel: ch, lines, desired } = channel(store, [c.address]);
    await ch.ensureCredentialRetrying();
    ch.start();
    await until('the snapshot', () => desired.length === 1);
    const [ws] = c.sockets;
    const held = () => store.readDesired()?.resources.find((r) => r.id === 'f1');
    ws.send(JSON.stringify({ type: 'update', revision: 2, upserts: [{ kind: 'FirewallPolicy', id: 'f1', generation: 1, spec: { rules: [1, 2, 3], x: 1 }, hash: 'h1' }], deletes: [] }));
    await until('the whole one', () => desired.length === 2);
    const patch = (base: string, hash: string, item: number) => ({ base, hash, set: {}, unset: [], lists: { rules: { length: 3, items: { 1: item } } } });
    ws.send(JSON.stringify({ type: 'update', revision: 3, upserts: [{ kind: 'FirewallPolicy', id: 'f1', generation: 2, patch: patch('h1', 'h2', 9) }], deletes: [] }));
    await until('the patched one', () => desired.length === 3);
    // Held (and logged) whole, without the hash.
    expect(held()).toEqual({ kind: 'FirewallPolicy', id: 'f1', generation: 2, spec: { rules: [1, 9, 3], x: 1 } });

    // A patch of what it does not hold (h1 is gone): the update is not taken, the channel starts again asking for everything.
    ws.send(JSON.stringify({ type: 'update', revision: 4, upserts: [{ kind: 'FirewallPolicy', id: 'f1', generation: 3, patch: patch('h1', 'h3', 7) }], deletes: [] }));
    await until('the hello after it', () => c.hellos.length === 2);
    expect(c.hellos.map((h) => h.lastRevision)).toEqual([0, 0]);
    await until('the snapshot after it', () => desired.length === 4);
    expect(desired.map((d) => d.revision)).toEqual([1, 2, 3, 1]);
    expect(lines).toContainEqual('update 4: FirewallPolicy/f1: it does not hold the spec the patch is for: asking the controller for a snapshot');
    // After that snapshot, a hello names what it applied again.
    c.sockets[1].close();
    await until('the third hello', () => c.hellos.length === 3);
    expect(c.hellos[2].lastRevision).toBe(1);
  });
});
