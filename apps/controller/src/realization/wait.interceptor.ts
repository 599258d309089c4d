import { CallHandler, ExecutionContext, Inject, Injectable, NestInterceptor } from '@nestjs/common';
import { ArgsOptions, GqlContextType, GqlExecutionContext } from '@nestjs/graphql';
import { GraphQLResolveInfo } from 'graphql';
import { from, mergeMap, Observable } from 'rxjs';
import { trace } from '@netloom/protocol';
import { ChangesService } from '../changes/changes.service';
import { ControllerConfig } from '../config';
import { CONTROLLER_CONFIG } from '../database/tokens';
import { DispatcherService } from './dispatcher.service';

export const WAIT_DESCRIPTION =
  'Return only once every affected host has applied the change (like OVN --wait=hv). A host whose agent never joined is not waited for: it gets the change when it joins.';

/** The `wait` argument every mutation of an intent resource takes (core and plugin kinds). */
export const WAIT_ARG: ArgsOptions = { type: () => Boolean, defaultValue: false, description: WAIT_DESCRIPTION };

/**
 * Implements `wait: true` for every mutation: after the change commits, hold the response until
 * each host whose desired state it changed has applied it, or report the failure or timeout.
 */
@Injectable()
export class WaitInterceptor implements NestInterceptor {
  constructor(
    private readonly changes: ChangesService,
    private readonly dispatcher: DispatcherService,
    @Inject(CONTROLLER_CONFIG) private readonly config: ControllerConfig,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType<GqlContextType>() !== 'graphql') return next.handle();
    const gql = GqlExecutionContext.create(context);
    const info = gql.getInfo<GraphQLResolveInfo>();
    if (info.operation.operation !== 'mutation' || gql.getArgs<{ wait?: boolean }>().wait !== true) return next.handle();
    const before = this.changes.lastRevision;
    return next.handle().pipe(
      mergeMap((result: unknown) =>
        from(
          (async () => {
            const after = this.changes.lastRevision;
            const changed = await this.changes.list(before, 100_000);
            await this.dispatcher.waitApplied(before, after, changed, this.config.waitTimeoutMs);
            trace('controller.wait.done', after);
            return result;
          })(),
        ),
      ),
    );
  }
}
