import { CanActivate, ExecutionContext, Injectable, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { GqlContextType, GqlExecutionContext } from '@nestjs/graphql';
import { GraphQLResolveInfo } from 'graphql';
import { ErrorCode, NetloomError } from '@netloom/model';
import { Role } from './api-token.entity';
import { Principal, RequestContext } from './principal';

const ADMIN_ONLY = 'netloom:adminOnly';

/** Marks a query that only admins may run (every mutation already needs admin). */
export const AdminOnly = (): MethodDecorator => SetMetadata(ADMIN_ONLY, true);

/**
 * The one authorization rule of a top-level field: a principal is required, and the admin role
 * for a mutation or an admin-only read. Nest's fields pass through {@link RolesGuard}; the
 * generated plugin fields (plain graphql-js resolvers) call it themselves.
 */
export function authorize(principal: Principal | undefined, needsAdmin: boolean, field: string): void {
  if (!principal) throw new NetloomError(ErrorCode.Unauthenticated, 'a bearer token is required');
  if (needsAdmin && principal.role !== Role.ADMIN) throw new NetloomError(ErrorCode.Forbidden, `the ${principal.role} role may not run ${field}`);
}

/**
 * Authorization for every top-level field. Authentication already happened when the request's
 * context was built (HTTP) or the websocket connected; here: writes and admin-only reads need
 * the admin role.
 */
@Injectable()
export class RolesGuard implements CanActivate {
  constructor(private readonly reflector: Reflector) {}

  canActivate(context: ExecutionContext): boolean {
    // Plain HTTP routes (the agent join endpoint) authenticate on their own.
    if (context.getType<GqlContextType>() !== 'graphql') return true;
    const gql = GqlExecutionContext.create(context);
    const { principal } = gql.getContext<Partial<RequestContext>>();
    const info = gql.getInfo<GraphQLResolveInfo>();
    authorize(principal, info.operation.operation === 'mutation' || this.reflector.get<boolean>(ADMIN_ONLY, context.getHandler()) === true, info.fieldName);
    return true;
  }
}
