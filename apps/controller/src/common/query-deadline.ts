import { ApolloServerPlugin } from '@apollo/server';
import { MapperKind, mapSchema } from '@graphql-tools/utils';
import { defaultFieldResolver, GraphQLFormattedError, GraphQLSchema } from 'graphql';
import { ErrorCode, NetloomError } from '@netloom/model';

/** Set on the request's context: when a query must stop, and whether it had to. */
export interface Deadline {
  deadline: number;
  timedOut?: boolean;
}

const timeout = (ms: number): NetloomError =>
  new NetloomError(ErrorCode.QueryTimeout, `the query ran longer than ${ms} ms and was stopped; ask for smaller pages or fewer fields`);

/** The one answer a query that ran out of time gets, whatever fields had already failed. */
export const timeoutAnswer = (ms: number): GraphQLFormattedError => ({ message: timeout(ms).message, extensions: { code: ErrorCode.QueryTimeout } });

/**
 * Bounds the time a query spends: graphql-js cannot be aborted, so every field checks the
 * request's deadline before it resolves and, once past it, fails at once, which stops the
 * walk below it. Each subscription event gets its own deadline, set when its root field
 * resolves. Mutations are never cut short: their change is committed before their fields run.
 */
export function withDeadline(schema: GraphQLSchema, ms: number): GraphQLSchema {
  const subscription = schema.getSubscriptionType()?.name;
  return mapSchema(schema, {
    [MapperKind.OBJECT_FIELD]: (config, _field, typeName) => {
      const resolve = config.resolve ?? defaultFieldResolver;
      return {
        ...config,
        resolve: (source, args, context: Deadline | undefined, info) => {
          if (context && typeName === subscription) {
            context.deadline = Date.now() + ms;
            context.timedOut = false;
          } else if (context?.deadline && info.operation.operation !== 'mutation' && Date.now() > context.deadline) {
            context.timedOut = true;
            throw timeout(ms);
          }
          return resolve(source, args, context, info);
        },
      };
    },
  });
}

/** Answers a query that ran out of time with one QUERY_TIMEOUT error instead of its partial result. */
export function deadlinePlugin(ms: number): ApolloServerPlugin<Deadline> {
  return {
    requestDidStart() {
      return Promise.resolve({
        willSendResponse({ response, contextValue }) {
          if (contextValue.timedOut && response.body.kind === 'single') {
            response.body.singleResult = { errors: [timeoutAnswer(ms)] };
          }
          return Promise.resolve();
        },
      });
    },
  };
}
