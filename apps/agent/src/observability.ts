import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP, type AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

/** Where the probes and metrics listen (`--metrics-address HOST:PORT`). */
export interface ListenAddress {
  host: string;
  port: number;
}

/** What a probe answers, as the controller's probes do. */
export interface Health {
  status: 'ok' | 'ready' | 'unavailable';
  reason?: string;
}

const HOST_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;

/** `HOST:PORT`, `[IPv6]:PORT`; port 0 lets the kernel pick one (the agent logs which). */
export function parseListenAddress(text: string): ListenAddress {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const host = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  const hostOk = match?.[1] !== undefined ? isIP(match[1]) === 6 : host !== undefined && (isIP(host) === 4 || HOST_NAME.test(host));
  if (!match || !host || !hostOk || port > 65_535) {
    throw new Error(`expected HOST:PORT, e.g. 127.0.0.1:9464 or [::1]:9464 (port 0: any free one), got ${JSON.stringify(text)}`);
  }
  return { host, port };
}

/**
 * Ready when the channel to a controller is open, or when this process has reconciled a desired
 * state (from the controller before it went away, or the stored one): the data plane is kept.
 */
export function readiness(connected: boolean, keptRevision: number | undefined): Health {
  if (connected) return { status: 'ready', reason: 'connected to the controller' };
  if (keptRevision !== undefined) return { status: 'ready', reason: `data plane kept at revision ${keptRevision} while the controller is away` };
  return { status: 'unavailable', reason: 'not connected to the controller, and no desired state reconciled yet' };
}

export interface ProbeServerOptions {
  address: ListenAddress;
  registry: Registry;
  readiness: () => Health;
  /** Where an error of the listening server goes (it keeps the agent running). */
  log: (line: string) => void;
}

/**
 * The agent's local HTTP listener (node:http: the agent has no web framework): `GET /healthz`,
 * `/readyz` (503 when not ready) and `/metrics` (Prometheus text). It binds in the network
 * namespace the agent runs in. Resolves with the URL it listens on once it does.
 */
export async function startProbeServer(options: ProbeServerOptions): Promise<{ server: Server; url: string }> {
  const server = createServer((request, response) => void answer(request, response, options));
  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(options.address.port, options.address.host, () => {
      server.off('error', fail);
      server.on('error', (error) => options.log(`probes and metrics listener: ${error.message}`));
      done();
    });
  });
  const { address, port } = server.address() as AddressInfo;
  return { server, url: `http://${isIP(address) === 6 ? `[${address}]` : address}:${port}` };
}

async function answer(request: IncomingMessage, response: ServerResponse, options: ProbeServerOptions): Promise<void> {
  const path = (request.url ?? '/').split('?')[0];
  if (request.method !== 'GET' && request.method !== 'HEAD') return send(response, 405, 'text/plain; charset=utf-8', 'only GET and HEAD\n', { allow: 'GET, HEAD' });
  switch (path) {
    case '/healthz':
      return sendHealth(response, { status: 'ok' });
    case '/readyz':
      return sendHealth(response, options.readiness());
    case '/metrics':
      try {
        return send(response, 200, options.registry.contentType, await options.registry.metrics());
      } catch (error) {
        return send(response, 500, 'text/plain; charset=utf-8', `metrics: ${error instanceof Error ? error.message : String(error)}\n`);
      }
    default:
      return send(response, 404, 'text/plain; charset=utf-8', 'not found: /healthz, /readyz and /metrics are served here\n');
  }
}

function sendHealth(response: ServerResponse, health: Health): void {
  send(response, health.status === 'unavailable' ? 503 : 200, 'application/json; charset=utf-8', `${JSON.stringify(health)}\n`);
}

function send(response: ServerResponse, status: number, contentType: string, body: string, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', ...headers });
  response.end(response.req.method === 'HEAD' ? undefined : body);
}
