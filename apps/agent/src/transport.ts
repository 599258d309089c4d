import { request as httpRequest, RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { ClientOptions } from 'ws';
import { isLoopbackHost } from '@netloom/model';
import { AGENT_PATH } from '@netloom/protocol';

/** How the agent reaches the controller at a `--controller` address. */
export interface ControllerTransport {
  /** The agent websocket, in the form the ws library dials. */
  readonly websocketUrl: string;
  /** What the ws library needs besides the URL (the CA to verify the controller against). */
  readonly websocketOptions: ClientOptions;
  /** POSTs `body` as JSON to `path` (e.g. /agent/join); resolves with the status and body text. */
  postJson(path: string, body: unknown): Promise<{ status: number; text: string }>;
}

export interface TransportOptions {
  /** PEM certificates to verify an https controller against, instead of the system's CAs (`--ca`). */
  ca?: string;
  /** Dial a controller that is not on a loopback address over plain http (`--allow-insecure-http`). */
  allowInsecureHttp?: boolean;
}

const UNIX = 'unix:';
const REQUEST_TIMEOUT_MS = 10_000;
// sun_path holds 108 bytes, the terminating NUL included.
const MAX_SOCKET_PATH = 107;

/**
 * The transport for a controller address: an `http(s)://host:port` base URL, or
 * `unix:/absolute/path.sock` for the controller's agent socket (reachable from any network
 * namespace of the machine). Throws on an address the agent cannot dial, and on plain http to a
 * controller off this machine unless `allowInsecureHttp` (the credential would cross in clear).
 */
export function controllerTransport(controller: string, options: TransportOptions = {}): ControllerTransport {
  if (/^https?:\/\//.test(controller)) {
    const url = new URL(controller);
    if (url.protocol === 'http:' && !options.allowInsecureHttp && !isLoopbackHost(url.hostname)) {
      throw new Error(
        `refusing plain http to ${url.host}, which is not this machine: the host credential would cross the network in clear; ` +
          'use https:// (with --ca for a private CA) or pass --allow-insecure-http',
      );
    }
    const https = url.protocol === 'https:';
    const tls = https && options.ca ? { ca: options.ca } : {};
    const target: RequestOptions = { protocol: url.protocol, hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: url.port || undefined };
    return {
      websocketUrl: `${controller.replace(/^http/, 'ws')}${AGENT_PATH}`,
      websocketOptions: tls,
      postJson: (path, body) => post({ ...target, ...tls, path: `${url.pathname.replace(/\/$/, '')}${path}` }, body, https),
    };
  }
  if (controller.startsWith(UNIX)) {
    const socketPath = controller.slice(UNIX.length);
    // ws takes `ws+unix:<socket path>:<request path>`: the socket path ends at the first ':' and
    // is used as the URL parser left it (no percent-decoding), so it must come out unchanged.
    const websocketUrl = `ws+unix:${socketPath}:${AGENT_PATH}`;
    if (
      !socketPath.startsWith('/') ||
      socketPath.includes(':') ||
      Buffer.byteLength(socketPath) > MAX_SOCKET_PATH ||
      new URL(websocketUrl).pathname !== `${socketPath}:${AGENT_PATH}`
    ) {
      throw new Error(
        `controller socket must be an absolute path of at most ${MAX_SOCKET_PATH} bytes that a URL keeps as it is (no ':', spaces, quotes or dot segments), got ${socketPath}`,
      );
    }
    return { websocketUrl, websocketOptions: {}, postJson: (path, body) => post({ socketPath, path }, body, false) };
  }
  throw new Error(`controller must be an http(s) URL or unix:/path/to.sock, got ${controller}`);
}

function post(target: RequestOptions & { ca?: string }, body: unknown, https: boolean): Promise<{ status: number; text: string }> {
  const payload = JSON.stringify(body);
  const where = target.socketPath ?? `${target.hostname}:${target.port ?? ''}`;
  return new Promise((done, fail) => {
    const req = (https ? httpsRequest : httpRequest)(
      {
        ...target,
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
        timeout: REQUEST_TIMEOUT_MS,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => done({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        response.on('error', fail);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer from ${where} within ${REQUEST_TIMEOUT_MS} ms`)));
    req.on('error', fail);
    req.end(payload);
  });
}
