import { Injectable, NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { PAGES } from './assets';
import { sendWebFile } from './send-file';

/**
 * A browser opening /graphql (a GET without a query that prefers HTML) gets GraphiQL; every
 * other request goes on to the API unchanged, CSRF prevention of GETs included.
 */
@Injectable()
export class GraphiqlPageMiddleware implements NestMiddleware {
  use(req: Request, res: Response, next: NextFunction): void {
    const wantsPage = req.method === 'GET' && !new URL(req.originalUrl, 'http://x').searchParams.has('query') && prefersHtml(req);
    if (wantsPage) sendWebFile(res, PAGES.graphiql, true);
    else next();
  }
}

/** As Apollo's landing page decides: HTML preferred over the GraphQL response types. */
const prefersHtml = (req: Request): boolean => req.accepts(['application/json', 'application/graphql-response+json', 'text/html']) === 'text/html';
