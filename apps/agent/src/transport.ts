import { request } from 'node:http';
import { AGENT_PATH } from '@netloom/protocol';

/** How the agent reaches the controller at a `--controller` address. */
export interface ControllerTransport {
  /** The agent websocket, in the form the ws library dials. */
  readonly websocketUrl: string;
  /** POSTs `body` as JSON to `path` (e.g. /agent/join); resolves with the status and body text. */
  postJson(path: string, body: unknown): Promise<{ status: number; text: string }>;
}

const UNIX = 'unix:';
const REQUEST_TIMEOUT_MS = 10_000;
// sun_path holds 108 bytes, the terminating NUL included.
const MAX_SOCKET_PATH = 107;

/**
 * The transport for a controller address: an `http(s)://host:port` base URL, or
 * `unix:/absolute/path.sock` for the controller's agent socket (reachable from any network
 * namespace of the machine). Throws on an address the agent cannot dial.
 */
export function controllerTransport(controller: string): ControllerTransport {
  if (/^https?:\/\//.test(controller)) {
    return {
      websocketUrl: `${controller.replace(/^http/, 'ws')}${AGENT_PATH}`,
      postJson: async (path, body) => {
        const response = await fetch(`${controller}${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
        return { status: response.status, text: await response.text() };
      },
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
    return { websocketUrl, postJson: (path, body) => postOverSocket(socketPath, path, body) };
  }
  throw new Error(`controller must be an http(s) URL or unix:/path/to.sock, got ${controller}`);
}

function postOverSocket(socketPath: string, path: string, body: unknown): Promise<{ status: number; text: string }> {
  const payload = JSON.stringify(body);
  return new Promise((done, fail) => {
    const req = request(
      {
        socketPath,
        path,
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
    req.on('timeout', () => req.destroy(new Error(`no answer from ${socketPath} within ${REQUEST_TIMEOUT_MS} ms`)));
    req.on('error', fail);
    req.end(payload);
  });
}
