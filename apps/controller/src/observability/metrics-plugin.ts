import type { ApolloServerPlugin } from '@apollo/server';
import { Kind } from 'graphql';
import { MetricsService } from './metrics.service';

/**
 * Counts and times each GraphQL operation answered over HTTP by its type and first root field
 * (a name of the schema, so the labels stay few), and its outcome: OK, or the first error's code.
 * An operation that does not parse or validate counts as type and field `none`.
 */
export function metricsPlugin(metrics: MetricsService): ApolloServerPlugin {
  return {
    requestDidStart() {
      const done = metrics.requestSeconds.startTimer();
      let labels = { type: 'none', field: 'none' };
      return Promise.resolve({
        didResolveOperation({ operation }) {
          const first = operation?.selectionSet.selections.find((s) => s.kind === Kind.FIELD);
          if (operation) labels = { type: operation.operation, field: first?.kind === Kind.FIELD ? first.name.value : 'none' };
          return Promise.resolve();
        },
        willSendResponse({ response }) {
          const errors = response.body.kind === 'single' ? response.body.singleResult.errors : undefined;
          const given = errors?.[0]?.extensions?.code;
          const code = !errors?.length ? 'OK' : typeof given === 'string' ? given : 'INTERNAL_SERVER_ERROR';
          metrics.requests.inc({ ...labels, code });
          done(labels);
          return Promise.resolve();
        },
      });
    },
  };
}
