import { IncomingMessage, Server } from 'node:http';
import { Duplex } from 'node:stream';
import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import WebSocket, { WebSocketServer } from 'ws';
import { AGENT_PATH, AgentCloseCode, parseAgentMessage, PROTOCOL_VERSION, trace } from '@netloom/protocol';
import { AgentProbesService } from './agent-probes.service';
import { AgentSession } from './agent-session';
import { AgentsService } from './agents.service';
import { PortCountersService } from '../counters/port-counters.service';
import { DispatcherService } from '../realization/dispatcher.service';

const BEARER = /^Bearer\s+(\S+)$/i;

/**
 * The agent channel: a websocket at /agent on the controller's HTTP server (and on its agent
 * socket, when it has one), one per host, authenticated by the host credential in the upgrade
 * request. Messages are handled one at a time per connection, in order.
 */
@Injectable()
export class AgentGateway implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('AgentGateway');
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 * 1024 });

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly agents: AgentsService,
    private readonly dispatcher: DispatcherService,
    private readonly probes: AgentProbesService,
    private readonly counters: PortCountersService,
  ) {}

  onApplicationBootstrap(): void {
    this.attach(this.adapterHost.httpAdapter.getHttpServer() as Server);
  }

  /** Serves the agent websocket on `server` too: the main server at bootstrap, the agent socket's server. */
  attach(server: Server): void {
    server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (new URL(request.url ?? '/', 'http://x').pathname !== AGENT_PATH) return;
      void this.upgrade(request, socket, head);
    });
  }

  onApplicationShutdown(): void {
    for (const client of this.wss.clients) client.terminate();
    this.wss.close();
  }

  private async upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const credential = BEARER.exec(request.headers.authorization ?? '')?.[1];
    const ticket = this.agents.channelTicket();
    let hostId: string | null;
    try {
      hostId = await this.agents.authenticate(credential);
    } catch (error) {
      // The store could not be read (PostgreSQL away): not a refused credential; the agent retries.
      this.logger.warn(`agent channel not opened for now: ${(error as Error).message}`);
      socket.end('HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    if (!hostId) {
      socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    this.wss.handleUpgrade(request, socket, head, (ws) => this.accept(hostId, ws, ticket));
  }

  private accept(hostId: string, ws: WebSocket, ticket: number): void {
    const session = new AgentSession(hostId, ws, this.logger, () => session.close(1001, 'heartbeat timeout'));
    // Voiding the credential or deleting the host ends the channel at once (also one still upgrading).
    const forget = this.agents.trackChannel(hostId, ticket, (code, reason) => session.close(code, reason));
    let queue = Promise.resolve();
    ws.on('message', (data: WebSocket.RawData) => {
      session.heard();
      const text = (Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer)).toString('utf8');
      queue = queue.then(() => this.handle(session, text)).catch((error: unknown) => {
        this.logger.error(`host ${hostId}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
        session.close(1011, 'internal error');
      });
    });
    ws.on('close', () => {
      forget();
      session.stopTimers();
      this.counters.closed(session);
      if (this.dispatcher.detach(session)) void this.agents.disconnected(hostId).catch(() => undefined);
    });
    ws.on('error', (error) => this.logger.warn(`host ${hostId}: ${error.message}`));
  }

  private async handle(session: AgentSession, text: string): Promise<void> {
    // A channel being closed (credential voided, host deleted) takes nothing more, even what was queued.
    if (!session.open) return;
    const message = parseAgentMessage(text);
    if (typeof message === 'string') {
      this.logger.warn(`host ${session.hostId} sent a bad message: ${message}`);
      return;
    }
    switch (message.type) {
      case 'hello':
        if (message.protocol !== PROTOCOL_VERSION) {
          session.close(AgentCloseCode.UnsupportedProtocol, `protocol ${PROTOCOL_VERSION} only`);
          return;
        }
        session.hello = message;
        // Back from another replica, what this one remembers sending it is stale: a snapshot.
        if (await this.agents.connected(session.hostId, message)) await this.dispatcher.attach(session, message.lastRevision);
        else await this.dispatcher.attach(session, 0);
        // After the snapshot or delta: counters name ports the agent was sent.
        if (session.open) this.counters.attached(session);
        return;
      case 'ack':
        if (!session.hello) return;
        trace('controller.ack.received', message.revision);
        await this.dispatcher.ack(session, message);
        trace('controller.ack.stored', message.revision);
        return;
      case 'heartbeat':
        await this.agents.seen(session.hostId, message.stateError, session.appliedThrough);
        return;
      case 'probe-result':
        this.probes.answered(session.hostId, message);
        return;
      case 'port-counters':
        this.counters.received(session, message);
        return;
    }
  }
}
