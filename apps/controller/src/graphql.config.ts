import { ApolloDriverConfig } from '@nestjs/apollo';
import type { Request } from 'express';
import { DocumentNode, GraphQLError, GraphQLSchema, parse } from 'graphql';
import type { Context as WsContext } from 'graphql-ws';
import { DataSource } from 'typeorm';
import { AuthService } from './auth/auth.service';
import { Principal, RequestContext } from './auth/principal';
import { ControllerConfig } from './config';
import { formatError } from './common/graphql-errors';
import { checkQueryLimits, queryLimitsPlugin } from './common/query-limits';
import { Loaders } from './loaders/loaders';

export interface GraphQLContext extends RequestContext {
  loaders: Loaders;
}

interface WsExtra {
  principal?: Principal;
}

const unauthenticated = (): GraphQLError =>
  new GraphQLError('a valid bearer token is required (Authorization: Bearer <token>)', {
    extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } },
  });

/**
 * GraphQL at /graphql, HTTP and graphql-ws on the same path. Authentication happens before any
 * field runs: when the HTTP request's context is built, or when the websocket connects
 * (`connectionParams.authorization`), so not even introspection is open without a token.
 */
export function graphqlOptions(
  config: ControllerConfig,
  auth: AuthService,
  dataSource: DataSource,
  /** Adds what plugins declare to the schema Nest built (plugin-kinds/plugin-schema.ts). */
  extend: (schema: GraphQLSchema) => GraphQLSchema = (built) => built,
): ApolloDriverConfig {
  const limits = { maxDepth: config.maxQueryDepth, maxCost: config.maxQueryCost };
  let schema: GraphQLSchema | undefined;
  return {
    path: '/graphql',
    autoSchemaFile: true,
    sortSchema: true,
    playground: false,
    introspection: true,
    includeStacktraceInErrorResponses: false,
    formatError,
    plugins: [queryLimitsPlugin(limits)],
    // Plugin kinds join the schema here; kept for the websocket transport's limit check (it runs
    // operations outside Apollo's plugins).
    transformSchema: (built: GraphQLSchema) => (schema = extend(built)),
    subscriptions: {
      'graphql-ws': {
        path: '/graphql',
        onConnect: async (ctx: WsContext<Record<string, unknown> | undefined, unknown>) => {
          const params = ctx.connectionParams ?? {};
          const principal = await auth.authenticate(params.authorization ?? params.Authorization);
          if (!principal) return false;
          (ctx.extra as WsExtra).principal = principal;
          return true;
        },
        // The same depth and cost limits as over HTTP, before anything runs.
        onSubscribe: (_ctx, _id, payload) => {
          let document: DocumentNode;
          try {
            document = parse(payload.query);
          } catch {
            return undefined; // graphql-ws reports the syntax error itself
          }
          try {
            if (schema) checkQueryLimits(limits, schema, document, payload.operationName, payload.variables);
          } catch (error) {
            if (!(error instanceof GraphQLError)) throw error;
            return [new GraphQLError(error.message, { extensions: { code: error.extensions.code } })];
          }
          return undefined;
        },
        // Errors reach websocket clients through the same mapping as over HTTP.
        onNext: (_ctx, _id, _payload, _args, result) =>
          result.errors && {
            ...result,
            errors: result.errors.map((error) => (error.originalError ? formatError(error.toJSON(), error) : error.toJSON())),
          },
      },
    },
    context: async (arg: { req?: Request; extra?: WsExtra }): Promise<GraphQLContext> => {
      const principal = arg.extra ? arg.extra.principal : await auth.authenticate(arg.req?.headers.authorization);
      if (!principal) throw unauthenticated();
      return { principal, loaders: new Loaders(dataSource) };
    },
  };
}
