import { CallHandler, ExecutionContext, Inject, Injectable, NestInterceptor } from '@nestjs/common';
import { ArgsOptions, GqlContextType, GqlExecutionContext } from '@nestjs/graphql';
import { GraphQLResolveInfo } from 'graphql';
import { from, lastValueFrom, Observable } from 'rxjs';
import { trace } from '@netloom/protocol';
import { committedBy } from '../changes/changes.service';
import { ControllerConfig } from '../config';
import { CONTROLLER_CONFIG } from '../database/tokens';
import { DispatcherService } from './dispatcher.service';

export const WAIT_DESCRIPTION =
  'Return only once every affected host has applied the change (like OVN --wait=hv). A host whose agent never joined is not waited for: it gets the change when it joins.';

/** The `wait` argument every mutation of an intent resource takes (core and plugin kinds). */
export const WAIT_ARG: ArgsOptions = { type: () => Boolean, defaultValue: false, description: WAIT_DESCRIPTION };

/**
 * `wait: true` of a mutation: after the change commits, hold the answer until each host whose
 * desired state it changed has applied it, or report the failure or timeout. Nest's mutations
 * pass through {@link WaitInterceptor}; the generated plugin fields (plain graphql-js
 * resolvers) call it themselves.
 */
@Injectable()
export class ChangeWaiter {
  constructor(
    private readonly dispatcher: DispatcherService,
    @Inject(CONTROLLER_CONFIG) private readonly config: ControllerConfig,
  ) {}

  /** Runs the mutation `run`; with `wait`, answers once the hosts applied what it committed. */
  async around<T>(wait: boolean, run: () => Promise<T>): Promise<T> {
    if (!wait) return run();
    // Its own changes only: writes of other requests that commit meanwhile are theirs to wait
    // for (and their failures theirs to report).
    const { value, committed } = await committedBy(run);
    if (!committed.length) return value;
    const revisions = committed.map((c) => c.revision);
    const after = Math.max(...revisions);
    await this.dispatcher.waitApplied(Math.min(...revisions) - 1, after, committed, this.config.waitTimeoutMs);
    trace('controller.wait.done', after);
    return value;
  }
}

/** {@link ChangeWaiter} for every mutation Nest resolves. */
@Injectable()
export class WaitInterceptor implements NestInterceptor {
  constructor(private readonly waiter: ChangeWaiter) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType<GqlContextType>() !== 'graphql') return next.handle();
    const gql = GqlExecutionContext.create(context);
    const info = gql.getInfo<GraphQLResolveInfo>();
    if (info.operation.operation !== 'mutation' || gql.getArgs<{ wait?: boolean }>().wait !== true) return next.handle();
    return from(this.waiter.around(true, () => lastValueFrom(next.handle())));
  }
}
