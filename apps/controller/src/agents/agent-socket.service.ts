import { lstat, unlink } from 'node:fs/promises';
import { createServer, RequestListener, Server } from 'node:http';
import { connect } from 'node:net';
import { Injectable, OnApplicationShutdown } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { badInput } from '@netloom/model';
import { AgentGateway } from './agent.gateway';

/**
 * The controller's HTTP app (join, the agent websocket, the rest) served on a Unix socket as
 * well as on TCP: a pathname socket is reachable from every network namespace of the machine,
 * so agents in simulated hosts reach the controller without any IP traffic leaving them.
 */
@Injectable()
export class AgentSocketService implements OnApplicationShutdown {
  private server: Server | undefined;
  private path: string | undefined;

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly gateway: AgentGateway,
  ) {}

  /** Listens on `path`, replacing a socket file nobody listens on any more (a crashed run's). */
  async listen(path: string): Promise<void> {
    await removeStaleSocket(path);
    const server = createServer(this.adapterHost.httpAdapter.getInstance<RequestListener>());
    this.gateway.attach(server);
    await new Promise<void>((done, fail) => {
      server.once('error', fail);
      server.listen(path, () => {
        server.off('error', fail);
        done();
      });
    });
    this.server = server;
    this.path = path;
  }

  async onApplicationShutdown(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    // Not waiting for the close callback: an upgraded socket nobody took would hold it open.
    // Closing a listening Unix socket removes its file; the unlink covers a close that did not.
    server.close();
    server.closeAllConnections();
    if (this.path) await unlink(this.path).catch(() => undefined);
  }
}

async function removeStaleSocket(path: string): Promise<void> {
  const stat = await lstat(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null;
    throw error;
  });
  if (!stat) return;
  if (!stat.isSocket()) throw badInput(`agent socket ${path} exists and is not a socket; refusing to replace it`);
  if (await answers(path)) throw badInput(`agent socket ${path} is in use by another process`);
  await unlink(path);
}

/** Whether something accepts connections on the Unix socket at `path`. */
function answers(path: string): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
  });
}
