import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RequestMethod } from '@nestjs/common';
import { Logger as PinoNestLogger, type Params, PinoLogger } from 'nestjs-pino';
import type { Logger } from 'pino';

// An incoming x-request-id is kept when it looks like an id (a proxy's, a client's); else one is made.
const REQUEST_ID = /^[\w.:@/+=-]{1,128}$/;
// Probes and scrapes come every few seconds and say nothing about the API's use.
const QUIET_PATHS = new Set(['/healthz', '/readyz', '/metrics']);
// Nest's own start-up chatter (modules loaded, routes mapped): debug, not info.
const FRAMEWORK_CONTEXTS = new Set(['NestFactory', 'InstanceLoader', 'RoutesResolver', 'RouterExplorer', 'NestApplication', 'GraphQLModule']);

const pathOf = (url: string | undefined): string => (url ?? '').split('?')[0];
// Express rewrites req.url under a mount point (Apollo's /graphql); originalUrl keeps it.
const requestPath = (req: IncomingMessage & { originalUrl?: string }): string => pathOf(req.originalUrl ?? req.url);

/**
 * nestjs-pino over the binary's pino logger: every HTTP request gets an id (`reqId`, also sent
 * back in `x-request-id`), carried by every line logged while it is handled, and one line when it
 * completes (method, path, status, time; no headers, no query).
 */
export function loggingParams(logger: Logger): Params {
  return {
    pinoHttp: {
      logger,
      genReqId: (req: IncomingMessage, res: ServerResponse) => {
        const given = req.headers['x-request-id'];
        const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
        res.setHeader('x-request-id', id);
        return id;
      },
      quietReqLogger: true,
      autoLogging: { ignore: (req: IncomingMessage) => QUIET_PATHS.has(requestPath(req)) },
      serializers: {
        req: (req: { method?: string; url?: string }) => ({ method: req.method, path: pathOf(req.url) }),
        res: (res: { statusCode?: number }) => ({ statusCode: res.statusCode }),
      },
      customLogLevel: (_req, res, error) => (error || res.statusCode >= 500 ? 'error' : 'info'),
      customSuccessMessage: (req, res, ms) => `${req.method} ${requestPath(req)} ${res.statusCode} in ${ms} ms`,
      customErrorMessage: (req, res) => `${req.method} ${requestPath(req)} failed with ${res.statusCode}`,
    },
    forRoutes: [{ path: '{*path}', method: RequestMethod.ALL }],
  };
}

/** Nest's LoggerService on the same logger; lines logged while a request is handled carry its id. */
export class NestLogger extends PinoNestLogger {
  constructor(params: Params) {
    super(new PinoLogger(params), params);
  }

  override log(message: unknown, ...optionalParams: unknown[]): void {
    const context = optionalParams[optionalParams.length - 1];
    if (typeof context === 'string' && FRAMEWORK_CONTEXTS.has(context)) super.debug(message, ...optionalParams);
    else super.log(message, ...optionalParams);
  }
}
