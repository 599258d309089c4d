import { createHash, randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { DesiredResource, resourceKey, ResourceStatusReport } from '@netloom/model';
import {
  AgentCloseCode,
  AgentMessage,
  ControllerMessage,
  type CountersRequestMessage,
  HEARTBEAT_MS,
  HelloMessage,
  JOIN_PATH,
  JoinRequest,
  JoinResponse,
  applySpecPatch,
  isPatched,
  parseControllerMessage,
  type ProbeMessage,
  type ProbeResultMessage,
  trace,
} from '@netloom/protocol';
import { ControllerRotation } from './rotation';
import { StateStore } from './state-store';
import { ControllerTransport, controllerTransport, TransportOptions } from './transport';
import type { Log } from './log';

export interface ChannelOptions {
  /**
   * The controllers' addresses, each an http(s) base URL or `unix:/path/to.sock` (see
   * {@link controllerTransport}): replicas of one controller, any of which serves the agent.
   */
  controllers: readonly string[];
  /** How every controller is verified (CA) and whether plain http off this machine is allowed. */
  tls?: TransportOptions;
  joinToken: string | undefined;
  hello: () => Omit<HelloMessage, 'type' | 'lastRevision'>;
  lastRevision: () => number;
  /** A new desired state (full): after a snapshot or an update applied to what the agent had. */
  onDesired: (revision: number, resources: DesiredResource[], snapshot: boolean) => void;
  onConnected: () => void;
  /** The controller deleted this host (after sending it an empty desired state): no reconnecting. */
  onHostDeleted: () => void;
  /** Answers a trace's probe (see {@link ProbeMessage}); the answer goes back on the channel it came by. */
  onProbe?: (message: ProbeMessage) => Promise<ProbeResultMessage>;
  /** The controller on the open channel asked for port counters (`counters-request`). */
  onCountersRequest?: () => void;
  /** Why the state dir cannot be written, or null: sent with every heartbeat. */
  stateError: () => string | null;
  log: Log;
  /** Heartbeat period (the protocol's 5 s unless a test says otherwise); a controller silent for three is left. */
  heartbeatMs?: number;
}

/**
 * The agent's end of the channel: joins once (binds a credential it made and stored to its host
 * with the join token; a lost answer is asked again with the same credential), dials the
 * controller's websocket, says hello, applies snapshots and updates to the desired state, and
 * reconnects with backoff for as long as it runs. With several controller addresses, a channel
 * that goes away (or a join without an answer) moves on to the next one (`ControllerRotation`),
 * keeping the credential and the desired state; the hello names the applied revision, so the
 * controller there resumes from it. The data plane never waits for it.
 */
export class ControllerChannel {
  private socket: WebSocket | undefined;
  private resources = new Map<string, DesiredResource>();
  /** The hash each large resource came with on this channel, by key: what a patch of it names as its base. */
  private hashes = new Map<string, string>();
  /** A patch could not be applied: the next hello asks for a snapshot (revision 0). */
  private snapshotNext = false;
  private revision = 0;
  private stopped = false;
  private heartbeat: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private lastHeard = 0;
  /** The credential was refused once already (the hint is logged once). */
  private refusedBefore = false;
  private readonly transports: ReadonlyMap<string, ControllerTransport>;
  private readonly rotation: ControllerRotation;
  hostId: string | undefined;

  constructor(
    private readonly store: StateStore,
    private readonly options: ChannelOptions,
  ) {
    this.transports = new Map(options.controllers.map((address) => [address, controllerTransport(address, options.tls)]));
    this.rotation = new ControllerRotation(options.controllers, store.readController()?.address);
    const desired = store.readDesired();
    if (desired) {
      this.revision = desired.revision;
      this.resources = new Map(desired.resources.map((r) => [resourceKey(r), r]));
    }
  }

  /** Whether the channel to a controller is open now. */
  get connected(): boolean {
    return this.socket?.readyState === WebSocket.OPEN;
  }

  /** The stored desired state, to reconcile before the controller answers. */
  get stored(): { revision: number; resources: DesiredResource[] } | null {
    return this.store.readDesired();
  }

  /**
   * {@link ensureCredential} until it succeeds: each failure is logged and retried after the
   * usual backoff, with the next controller address (any replica answers a join alike).
   */
  async ensureCredentialRetrying(): Promise<string> {
    for (;;) {
      try {
        return await this.ensureCredential();
      } catch (error) {
        const delay = this.rotation.failed();
        const next = this.options.controllers.length > 1 ? ` at ${this.rotation.current}` : '';
        this.options.log(`${error instanceof Error ? error.message : String(error)}; retrying in ${delay} ms${next}`, { level: 'warn' });
        await new Promise((done) => setTimeout(done, delay));
      }
    }
  }

  /**
   * Binds a host credential with the join token when none is bound yet; returns the host id.
   * The credential is made and stored before the join is posted, so a lost answer (the
   * connection dropped, the agent killed) is asked again with the same one, which the
   * controller answers the same way for a while.
   */
  async ensureCredential(): Promise<string> {
    const stored = this.store.readCredential();
    if (stored?.hostId) return (this.hostId = stored.hostId);
    if (!this.options.joinToken) throw new Error('no stored credential and no join token: pass --join-token-file (or NETLOOM_JOIN_TOKEN)');
    // One credential per join token: a new token (after a reset, or for another host) gets a new one.
    const forToken = createHash('sha256').update(this.options.joinToken).digest('hex');
    let credential = stored?.forToken === forToken ? stored.credential : undefined;
    if (!credential) {
      credential = `nlh_${randomBytes(32).toString('base64url')}`;
      this.store.writeCredentialNow({ credential, forToken });
    }
    const request: JoinRequest = { joinToken: this.options.joinToken, credential };
    const address = this.rotation.current;
    const { status, text } = await this.transportOf(address).postJson(JOIN_PATH, request).catch((error: Error & { cause?: { message?: string } }) => {
      throw new Error(`join: no answer (${[error.message, error.cause?.message].filter(Boolean).join(': ')}); the same credential is sent again`);
    });
    if (status < 200 || status > 299) throw new Error(`join refused: HTTP ${status} ${text}`);
    const joined = JSON.parse(text) as JoinResponse;
    // A controller older than agent-made credentials answers with one of its own.
    this.store.writeCredential({ hostId: joined.hostId, credential: joined.credential });
    this.options.log(`joined as host ${joined.hostName} (${joined.hostId})`, { hostId: joined.hostId });
    this.answered(address);
    return (this.hostId = joined.hostId);
  }

  /** Sends a heartbeat now (e.g. the state dir's trouble changed), if connected. */
  heartbeatNow(): void {
    this.send({ type: 'heartbeat', revision: this.options.lastRevision(), stateError: this.options.stateError() });
  }

  start(): void {
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.heartbeat);
    clearTimeout(this.reconnectTimer);
    this.socket?.terminate();
  }

  /** Sends when the channel is open; says whether it was. */
  send(message: AgentMessage): boolean {
    if (this.socket?.readyState !== WebSocket.OPEN) return false;
    this.socket.send(JSON.stringify(message));
    return true;
  }

  ack(revision: number, statuses: ResourceStatusReport[], full: boolean): void {
    this.send({ type: 'ack', revision, statuses, full });
    trace('agent.ack.sent', revision, `${statuses.length} statuses`);
  }

  private connect(): void {
    if (this.stopped) return;
    const credential = this.store.readCredential()?.credential;
    const address = this.rotation.current;
    const transport = this.transportOf(address);
    const socket = new WebSocket(transport.websocketUrl, { ...transport.websocketOptions, headers: { authorization: `Bearer ${credential ?? ''}` }, handshakeTimeout: 5_000 });
    this.socket = socket;
    socket.on('open', () => {
      this.answered(address);
      if (this.several) this.options.log(`connected to controller ${address}`);
      this.lastHeard = Date.now();
      // A new channel: what the controller patches, it first sends whole again.
      this.hashes.clear();
      this.send({ type: 'hello', ...this.options.hello(), lastRevision: this.snapshotNext ? 0 : this.options.lastRevision() });
      // What the controller knows of the state dir may be from before.
      this.heartbeatNow();
      clearInterval(this.heartbeat);
      const heartbeatMs = this.options.heartbeatMs ?? HEARTBEAT_MS;
      this.heartbeat = setInterval(() => {
        if (Date.now() - this.lastHeard > 3 * heartbeatMs) {
          this.options.log('controller silent: reconnecting');
          socket.terminate();
          return;
        }
        this.heartbeatNow();
      }, heartbeatMs);
      this.options.onConnected();
    });
    socket.on('message', (data: WebSocket.RawData) => {
      this.lastHeard = Date.now();
      const text = (Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer)).toString('utf8');
      const message = parseControllerMessage(text);
      if (typeof message === 'string') this.options.log(`bad message from controller: ${message}`, { level: 'warn' });
      else if (message.type === 'probe') this.probe(socket, message);
      else if (message.type === 'counters-request') this.options.onCountersRequest?.();
      else this.receive(message);
    });
    socket.on('unexpected-response', (_request, response) => {
      const hint =
        response.statusCode === 401 && !this.refusedBefore
          ? ' (its host was deleted, or its join token reset: `--cleanup` removes everything this agent made; a new join token joins again)'
          : '';
      if (response.statusCode === 401) this.refusedBefore = true;
      this.options.log(`controller refused the connection: HTTP ${response.statusCode}${hint}`, { level: 'warn', controller: address });
      socket.terminate();
    });
    socket.on('error', (error) => this.options.log(`channel: ${error.message}${this.several ? ` (${address})` : ''}`, { level: 'warn', controller: address }));
    socket.on('close', (code, reason) => {
      clearInterval(this.heartbeat);
      if (this.socket !== socket || this.stopped) return;
      if (code === AgentCloseCode.HostDeleted) {
        this.stop();
        this.options.onHostDeleted();
        return;
      }
      if (code === AgentCloseCode.Unauthorized) this.options.log(`controller: ${reason.toString() || 'unauthorized'}`, { level: 'warn', controller: address });
      const delay = this.rotation.failed();
      if (this.several) this.options.log(`channel to ${address} closed (${code}); dialling ${this.rotation.current} in ${delay} ms`);
      this.reconnectTimer = setTimeout(() => this.connect(), delay);
    });
  }

  private get several(): boolean {
    return this.options.controllers.length > 1;
  }

  private transportOf(address: string): ControllerTransport {
    return this.transports.get(address)!;
  }

  /** A controller answered (a join, or the channel opened): the backoff starts over and it is dialled first next time. */
  private answered(address: string): void {
    this.rotation.worked();
    if (this.store.readController()?.address !== address) this.store.writeController({ address });
  }

  private probe(socket: WebSocket, message: ProbeMessage): void {
    const answer = this.options.onProbe?.(message) ?? Promise.resolve<ProbeResultMessage>({ type: 'probe-result', id: message.id, counters: [], error: 'this agent does not probe' });
    void answer
      .catch((error: unknown): ProbeResultMessage => ({ type: 'probe-result', id: message.id, counters: [], error: error instanceof Error ? error.message : String(error) }))
      .then((result) => {
        if (socket === this.socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(result));
      });
  }

  /** Holds a resource as sent whole (its hash, when it came with one, kept apart); returns it without the hash. */
  private hold(sent: DesiredResource & { hash?: string }): DesiredResource {
    const { hash, ...resource } = sent;
    const key = resourceKey(resource);
    this.resources.set(key, resource);
    if (hash) this.hashes.set(key, hash);
    else this.hashes.delete(key);
    return resource;
  }

  /** An update that cannot be applied (a patch of a spec not held): nothing of it is taken; the channel starts again with a snapshot. */
  private resync(why: string): void {
    this.options.log(`${why}: asking the controller for a snapshot`, { level: 'warn' });
    this.snapshotNext = true;
    this.socket?.terminate();
  }

  private receive(message: Exclude<ControllerMessage, ProbeMessage | CountersRequestMessage>): void {
    if (message.type !== 'heartbeat') trace('agent.update.received', message.revision);
    /** An update's resources as held (patches applied, hashes apart), which the log keeps. */
    let upserts: DesiredResource[] = [];
    switch (message.type) {
      case 'heartbeat':
        return;
      case 'snapshot':
        this.snapshotNext = false;
        this.resources = new Map();
        this.hashes = new Map();
        message.resources.forEach((r) => this.hold(r));
        break;
      case 'update': {
        // Patches first, against what is held: one that does not apply leaves everything as it was.
        const sent: (DesiredResource & { hash?: string })[] = [];
        for (const r of message.upserts) {
          if (!isPatched(r)) {
            sent.push(r);
            continue;
          }
          const key = resourceKey(r);
          const spec = this.hashes.get(key) === r.patch.base ? applySpecPatch(this.resources.get(key)?.spec, r.patch) : `it does not hold the spec the patch is for`;
          if (typeof spec === 'string') return this.resync(`update ${message.revision}: ${key}: ${spec}`);
          sent.push({ kind: r.kind, id: r.id, generation: r.generation, spec, hash: r.patch.hash });
        }
        for (const ref of message.deletes) {
          this.resources.delete(resourceKey(ref));
          this.hashes.delete(resourceKey(ref));
        }
        upserts = sent.map((r) => this.hold(r));
        break;
      }
    }
    this.revision = message.revision;
    const resources = [...this.resources.values()];
    // The pass starts first: until its first await it only starts reads, and the file is written
    // before any of them returns, so before the pass changes anything or acks.
    this.options.onDesired(this.revision, resources, message.type === 'snapshot');
    const started = performance.now();
    // An update's change is logged, a snapshot written whole.
    if (message.type === 'update') this.store.changeDesired({ revision: message.revision, upserts, deletes: message.deletes }, { revision: this.revision, resources });
    else this.store.writeDesired({ revision: this.revision, resources });
    trace('agent.desired.stored', this.revision, (performance.now() - started).toFixed(2));
  }
}
