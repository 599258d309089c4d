import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print, type DocumentNode } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import type { Target } from '../config/contexts';
import { ApiError, CliError } from '../errors';

export interface GraphqlError {
  message: string;
  extensions?: { code?: unknown };
}

interface GraphqlResponse {
  data?: unknown;
  errors?: GraphqlError[];
}

/** The first error of an answer, with its code. */
export function apiError(errors: readonly GraphqlError[]): ApiError {
  const first = errors[0];
  const code = first.extensions?.code;
  return new ApiError(first.message, typeof code === 'string' ? code : 'INTERNAL_SERVER_ERROR');
}

/** The controller's GraphQL API over HTTP(S) and graphql-ws, with the target's token (and CA). */
export class ApiClient {
  private readonly ca: Buffer | undefined;

  constructor(readonly target: Target) {
    this.ca = target.ca ? readFileSync(target.ca) : undefined;
  }

  /** Runs a typed operation; the first GraphQL error is thrown as an ApiError. */
  request<R, V>(document: TypedDocumentNode<R, V>, variables: V): Promise<R> {
    return this.raw<R>(print(document), variables as Record<string, unknown>);
  }

  /** Runs an operation built at run time (plugin kinds, read from the schema). */
  query<R = Record<string, unknown>>(document: DocumentNode | string, variables: Record<string, unknown> = {}): Promise<R> {
    return this.raw<R>(typeof document === 'string' ? document : print(document), variables);
  }

  private raw<R>(query: string, variables: Record<string, unknown>): Promise<R> {
    const url = new URL(this.target.url);
    const body = JSON.stringify({ query, variables });
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<R>((resolve, reject) => {
      const req = send(
        url,
        {
          method: 'POST',
          ca: this.ca,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), authorization: `Bearer ${this.target.token}` },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: GraphqlResponse;
            try {
              parsed = JSON.parse(text) as GraphqlResponse;
            } catch {
              reject(new CliError(`${this.target.url} answered HTTP ${res.statusCode} without GraphQL: ${text.slice(0, 200)}`));
              return;
            }
            if (parsed.errors?.length) reject(apiError(parsed.errors));
            else if (parsed.data === undefined || parsed.data === null) reject(new CliError(`${this.target.url} answered HTTP ${res.statusCode} with no data`));
            else resolve(parsed.data as R);
          });
        },
      );
      req.on('error', (error) => reject(new CliError(`cannot reach ${this.target.url}: ${error.message}`)));
      req.end(body);
    });
  }

  /** A graphql-ws client on the same URL, authenticated as over HTTP. */
  subscriptions(onConnected?: () => void): Client {
    const ca = this.ca;
    class Socket extends WebSocket {
      constructor(address: string | URL, protocols?: string | string[]) {
        super(address, protocols, { ca });
      }
    }
    return createClient({
      url: this.target.url.replace(/^http/, 'ws'),
      webSocketImpl: Socket,
      connectionParams: { authorization: `Bearer ${this.target.token}` },
      retryAttempts: 5,
      on: { connected: () => onConnected?.() },
    });
  }
}
