import { ApolloServerPluginInlineTraceDisabled } from '@apollo/server/plugin/disabled';
import { ApolloDriverConfig } from '@nestjs/apollo';
import type { Request } from 'express';
import { DocumentNode, GraphQLError, GraphQLSchema, parse } from 'graphql';
import type { SubscribePayload, Context as WsContext } from 'graphql-ws';
import { ErrorCode } from '@netloom/model';
import { DataSource } from 'typeorm';
import type WebSocket from 'ws';
import { withAuditContext } from './audit/audit-context';
import { AuthService, TOKEN_REVOKED } from './auth/auth.service';
import { Principal, RequestContext } from './auth/principal';
import { ControllerConfig } from './config';
import { formatError } from './common/graphql-errors';
import { closeSocket } from './common/live-sessions';
import { Deadline, deadlinePlugin, timeoutAnswer, withDeadline } from './common/query-deadline';
import { checkQueryLimits, QueryBounds, queryLimitsPlugin } from './common/query-limits';
import type { ChangesService } from './changes/changes.service';
import { Host } from './hosts/host.entity';
import { Loaders } from './loaders/loaders';
import { metricsPlugin } from './observability/metrics-plugin';
import { MetricsService } from './observability/metrics.service';

export interface GraphQLContext extends RequestContext, Deadline {
  loaders: Loaders;
}

/** What graphql-ws' ws adapter puts in `ctx.extra`, and what onConnect adds. */
interface WsExtra {
  socket: WebSocket;
  principal?: Principal;
  /** The authorization the socket connected with, checked again for every operation. */
  authorization?: unknown;
  /** The cost of each live subscription of the socket, by operation id. */
  costs?: Map<string, number>;
  /** The admission of the socket's last operation: each waits for the one before it. */
  admitting?: Promise<unknown>;
}

const refusedOnSocket = (message: string, code: string): GraphQLError[] => [new GraphQLError(message, { extensions: { code } })];

const unauthenticated = (): GraphQLError =>
  new GraphQLError('a valid bearer token is required (Authorization: Bearer <token>)', {
    extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } },
  });

/**
 * The number of hosts (what bounds a status list's cost), counted again only once a host was
 * added or removed (by any controller: `changes` hears every commit); counted on every call
 * without `changes`.
 */
export function hostCounter(dataSource: DataSource, changes?: Pick<ChangesService, 'onCommit'>): () => Promise<number> {
  const count = (): Promise<number> => dataSource.getRepository(Host).count();
  if (!changes) return count;
  let counted: Promise<number> | undefined;
  changes.onCommit((committed) => {
    if (committed.some((c) => c.kind === Host.name)) counted = undefined;
  });
  return () => {
    const now = (counted ??= count());
    // A failed count is not kept.
    now.catch(() => counted === now && (counted = undefined));
    return now;
  };
}

/**
 * GraphQL at /graphql, HTTP and graphql-ws on the same path. Authentication happens before any
 * field runs: when the HTTP request's context is built, or when the websocket connects
 * (`connectionParams.authorization`), so not even introspection is open without a token. A
 * websocket ends when its token is revoked, and every operation on it checks the token again.
 */
export function graphqlOptions(
  config: ControllerConfig,
  auth: AuthService,
  dataSource: DataSource,
  /** Adds what plugins declare to the schema Nest built (plugin-kinds/plugin-schema.ts). */
  extend: (schema: GraphQLSchema) => GraphQLSchema = (built) => built,
  metrics?: MetricsService,
  changes?: Pick<ChangesService, 'onCommit'>,
): ApolloDriverConfig {
  const limits = { maxDepth: config.maxQueryDepth, maxCost: config.maxQueryCost };
  const hosts = hostCounter(dataSource, changes);
  const bounds = async (): Promise<QueryBounds> => ({ hosts: await hosts() });
  let schema: GraphQLSchema | undefined;
  // The token again (revoked since the socket opened: refused, and the socket closed), then the
  // same depth and cost limits as over HTTP, before anything runs; then at most maxSubscriptions
  // live operations per socket, costing at most maxQueryCost together.
  const admit = async (ctx: WsContext, id: string, payload: SubscribePayload): Promise<readonly GraphQLError[] | undefined> => {
    if (!(await auth.authenticate((ctx.extra as WsExtra).authorization))) {
      closeSocket((ctx.extra as WsExtra).socket, TOKEN_REVOKED.code, TOKEN_REVOKED.reason);
      return [new GraphQLError('the token of this connection is no longer valid', { extensions: { code: 'UNAUTHENTICATED' } })];
    }
    let document: DocumentNode;
    try {
      document = parse(payload.query);
    } catch {
      return undefined; // graphql-ws reports the syntax error itself
    }
    let cost = 0;
    try {
      if (schema) cost = checkQueryLimits(limits, await bounds(), schema, document, payload.operationName, payload.variables);
    } catch (error) {
      if (!(error instanceof GraphQLError)) throw error;
      return refusedOnSocket(error.message, String(error.extensions.code));
    }
    const extra = ctx.extra as WsExtra;
    const costs = (extra.costs ??= new Map<string, number>());
    for (const live of costs.keys()) if (!(live in ctx.subscriptions)) costs.delete(live);
    if (costs.size >= config.maxSubscriptions) {
      return refusedOnSocket(`this socket already runs ${costs.size} operations, the most allowed`, ErrorCode.SubscriptionLimit);
    }
    const total = [...costs.values()].reduce((sum, c) => sum + c, cost);
    if (total > limits.maxCost) {
      return refusedOnSocket(`the operations of this socket would cost ${total}, over the limit of ${limits.maxCost}`, ErrorCode.SubscriptionLimit);
    }
    costs.set(id, cost);
    return undefined;
  };
  return {
    path: '/graphql',
    autoSchemaFile: true,
    sortSchema: true,
    playground: false,
    introspection: true,
    includeStacktraceInErrorResponses: false,
    formatError,
    // Inline tracing only ever runs in a federated subgraph, which this is not: not loading it saves its protobuf code.
    plugins: [
      queryLimitsPlugin(limits, bounds),
      deadlinePlugin(config.queryTimeoutMs),
      ApolloServerPluginInlineTraceDisabled(),
      ...(metrics ? [metricsPlugin(metrics)] : []),
    ],
    // Plugin kinds join the schema here; kept for the websocket transport's limit check (it runs
    // operations outside Apollo's plugins).
    transformSchema: (built: GraphQLSchema) => (schema = withDeadline(withAuditContext(extend(built)), config.queryTimeoutMs)),
    subscriptions: {
      'graphql-ws': {
        path: '/graphql',
        onConnect: async (ctx: WsContext<Record<string, unknown> | undefined, unknown>) => {
          const params = ctx.connectionParams ?? {};
          const authorization = params.authorization ?? params.Authorization;
          const ticket = auth.socketTicket();
          const principal = await auth.authenticate(authorization);
          if (!principal) return false;
          const extra = ctx.extra as WsExtra;
          Object.assign(extra, { principal, authorization });
          const forget = auth.trackSocket(principal.tokenId, ticket, (code, reason) => closeSocket(extra.socket, code, reason));
          if (extra.socket.readyState === extra.socket.CLOSED) forget();
          else extra.socket.once('close', forget);
          return true;
        },
        // One socket's operations are admitted one at a time, in the order they came, so the one
        // over the limit is the last sent (on PostgreSQL, several token checks finish in any order).
        onSubscribe: (ctx, id, payload) => {
          const extra = ctx.extra as WsExtra;
          const admitted = (extra.admitting ?? Promise.resolve()).then(() => admit(ctx, id, payload));
          extra.admitting = admitted.catch(() => undefined);
          return admitted;
        },
        // Errors reach websocket clients through the same mapping as over HTTP; an event that ran
        // out of time gets one QUERY_TIMEOUT error, as over HTTP.
        onNext: (_ctx, _id, _payload, args, result) =>
          (args.contextValue as Deadline | undefined)?.timedOut
            ? { errors: [timeoutAnswer(config.queryTimeoutMs)] }
            : result.errors && {
                ...result,
                errors: result.errors.map((error) => (error.originalError ? formatError(error.toJSON(), error) : error.toJSON())),
              },
      },
    },
    context: async (arg: { req?: Request; extra?: WsExtra }): Promise<GraphQLContext> => {
      const principal = arg.extra ? arg.extra.principal : await auth.authenticate(arg.req?.headers.authorization);
      if (!principal) throw unauthenticated();
      return { principal, loaders: new Loaders(dataSource), deadline: Date.now() + config.queryTimeoutMs };
    },
  };
}
