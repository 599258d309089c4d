import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { DesiredResource, RealizationState, resourceKey, ResourceRef, ResourceStatusReport } from '@netloom/model';
import {
  AGENT_PATH,
  AgentMessage,
  ControllerMessage,
  HEARTBEAT_MS,
  JOIN_PATH,
  JoinRequest,
  JoinResponse,
  applySpecPatch,
  isPatched,
  parseControllerMessage,
  PROTOCOL_VERSION,
} from '@netloom/protocol';

/**
 * An agent that touches no kernel: it joins with a host's join token, holds the desired state it
 * is sent, and acks every snapshot and update at once with APPLIED for each resource it was sent
 * (or FAILED, for those a test told it to {@link fail}).
 * Speaks only the public agent protocol, so benchmarks measure the controller's part of
 * realization (commit, compile, dispatch, ack) without any host work.
 */
export class FakeAgent {
  private socket: WebSocket | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly resources = new Map<string, DesiredResource>();
  /** The hash each large resource came with, by key (what a patch names as its base). */
  private readonly hashes = new Map<string, string>();
  /** What its hello announces (none by default: it is sent every resource whole). */
  capabilities: string[] = [];
  /** The reason of each resource it reports FAILED, by key. */
  private readonly failing = new Map<string, string>();
  /** The last revision received (and acked). */
  revision = 0;
  /** Messages received from the controller (snapshots and updates). */
  received = 0;
  /** Why the controller dropped an open channel (close code and reason), each time it did. */
  readonly drops: string[] = [];
  private closing = false;
  private waiters: (() => void)[] = [];

  private constructor(
    /** The controller's base URL, e.g. http://127.0.0.1:8080. */
    readonly baseUrl: string,
    readonly hostId: string,
    private readonly credential: string,
  ) {}

  /** Binds a new host credential with the one-time `joinToken` (POST /agent/join). */
  static async join(baseUrl: string, joinToken: string): Promise<FakeAgent> {
    const request: JoinRequest = { joinToken, credential: `nlh_${randomBytes(32).toString('base64url')}` };
    const response = await fetch(`${baseUrl}${JOIN_PATH}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(request) });
    if (!response.ok) throw new Error(`join refused: HTTP ${response.status} ${await response.text()}`);
    const joined = (await response.json()) as JoinResponse;
    return new FakeAgent(baseUrl, joined.hostId, joined.credential);
  }

  /** How many resources it holds. */
  get size(): number {
    return this.resources.size;
  }

  /**
   * Dials the agent websocket, says hello (with the revision it holds), and resolves once its
   * first snapshot or update is acked. Like a real agent, it dials again (after 250 ms) when the
   * controller drops an open channel, counting it in {@link drops}.
   */
  async connect(): Promise<void> {
    this.closing = false;
    const first = this.nextMessage();
    await this.dial();
    await first;
  }

  private dial(): Promise<void> {
    const socket = new WebSocket(`${this.baseUrl.replace(/^http/, 'ws')}${AGENT_PATH}`, { headers: { authorization: `Bearer ${this.credential}` } });
    this.socket = socket;
    let opened = false;
    socket.on('message', (data: WebSocket.RawData) => {
      const text = (Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer)).toString('utf8');
      const message = parseControllerMessage(text);
      if (typeof message === 'string') this.drops.push(`bad message from the controller: ${message}`);
      else this.receive(message);
    });
    socket.on('close', (code, reason) => {
      clearInterval(this.heartbeat);
      if (!opened || this.closing || this.socket !== socket) return;
      this.drops.push(`${code} ${reason.toString()}`);
      this.redial();
    });
    return new Promise<void>((open, fail) => {
      socket.once('open', () => {
        opened = true;
        this.send({ type: 'hello', protocol: PROTOCOL_VERSION, agentVersion: 'fake', lastRevision: this.revision, capabilities: this.capabilities, plugins: [], kernel: 'none' });
        this.heartbeat = setInterval(() => this.send({ type: 'heartbeat', revision: this.revision }), HEARTBEAT_MS);
        open();
      });
      socket.once('error', fail);
      socket.once('unexpected-response', (_request, response) => fail(new Error(`agent channel refused: HTTP ${response.statusCode}`)));
    });
  }

  private redial(): void {
    setTimeout(() => {
      if (this.closing) return;
      this.dial().catch((error: Error) => {
        this.drops.push(`dialing again: ${error.message}`);
        this.redial();
      });
    }, 250);
  }

  /** Resolves after the next snapshot or update has been acked. */
  nextMessage(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Closes the channel; what it holds stays, so a later `connect` resumes from its revision. */
  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.heartbeat);
    const socket = this.socket;
    this.socket = undefined;
    if (!socket || socket.readyState === WebSocket.CLOSED) return;
    const closed = new Promise((done) => socket.once('close', done));
    socket.close(1000, 'bye');
    await closed;
  }

  /**
   * From now on reports `ref` FAILED with `reason`, as an agent whose kernel refused it would: at
   * once when it holds it (an ack of its current revision), and in every later ack of it.
   */
  fail(ref: ResourceRef, reason: string): void {
    const key = resourceKey(ref);
    this.failing.set(key, reason);
    const held = this.resources.get(key);
    if (held) this.send({ type: 'ack', revision: this.revision, statuses: [this.statusOf(held)], full: false });
  }

  private statusOf(r: DesiredResource): ResourceStatusReport {
    const reason = this.failing.get(resourceKey(r));
    const status = { kind: r.kind, id: r.id, generation: r.generation };
    return reason === undefined ? { ...status, state: RealizationState.APPLIED } : { ...status, state: RealizationState.FAILED, reason };
  }

  private send(message: AgentMessage): void {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  private receive(message: ControllerMessage): void {
    // A fake agent does not probe nor count (its hello does not say it can).
    if (message.type === 'heartbeat' || message.type === 'probe' || message.type === 'counters-request') return;
    this.received++;
    const hold = ({ hash, ...r }: DesiredResource & { hash?: string }): DesiredResource => {
      this.resources.set(resourceKey(r), r);
      if (hash) this.hashes.set(resourceKey(r), hash);
      else this.hashes.delete(resourceKey(r));
      return r;
    };
    let applied: DesiredResource[];
    if (message.type === 'snapshot') {
      this.resources.clear();
      this.hashes.clear();
      applied = message.resources.map(hold);
    } else {
      for (const ref of message.deletes) this.resources.delete(resourceKey(ref));
      applied = [];
      for (const r of message.upserts) {
        if (!isPatched(r)) {
          applied.push(hold(r));
          continue;
        }
        const key = resourceKey(r);
        const spec = this.hashes.get(key) === r.patch.base ? applySpecPatch(this.resources.get(key)?.spec, r.patch) : 'not the base it holds';
        if (typeof spec === 'string') this.drops.push(`patch of ${key} not applied: ${spec}`);
        else applied.push(hold({ kind: r.kind, id: r.id, generation: r.generation, spec, hash: r.patch.hash }));
      }
    }
    this.revision = message.revision;
    const statuses = applied.map((r) => this.statusOf(r));
    this.send({ type: 'ack', revision: message.revision, statuses, full: message.type === 'snapshot' });
    const waiters = this.waiters;
    this.waiters = [];
    for (const done of waiters) done();
  }
}
