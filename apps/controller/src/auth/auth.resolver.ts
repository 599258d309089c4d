import { Args, Field, ID, InputType, Mutation, ObjectType, Query, Resolver } from '@nestjs/graphql';
import { Context } from '@nestjs/graphql';
import { ApiToken, Role } from './api-token.entity';
import { AuthService } from './auth.service';
import { RequestContext } from './principal';
import { AdminOnly } from './roles.guard';

@InputType({ description: 'A new API token.' })
export class CreateApiTokenInput {
  @Field() name!: string;
  @Field(() => Role) role!: Role;
}

@ObjectType({ description: 'The new token, and its secret (shown only here).' })
export class CreateApiTokenPayload {
  @Field(() => ApiToken) token!: ApiToken;
  @Field({ description: 'The bearer secret. Shown only here: only its hash is stored.' })
  secret!: string;
}

@Resolver(() => ApiToken)
export class AuthResolver {
  constructor(private readonly auth: AuthService) {}

  @Query(() => ApiToken, { description: 'The token this request is made with.' })
  me(@Context() context: RequestContext): Promise<ApiToken> {
    return this.auth.get(context.principal.tokenId);
  }

  @AdminOnly()
  @Query(() => [ApiToken], { description: 'Every API token, revoked ones included (admins only).' })
  apiTokens(): Promise<ApiToken[]> {
    return this.auth.list();
  }

  @Mutation(() => CreateApiTokenPayload, { description: 'Creates a token; its secret is in the answer only.' })
  createApiToken(@Args('input') input: CreateApiTokenInput): Promise<CreateApiTokenPayload> {
    return this.auth.create(input.name, input.role);
  }

  @Mutation(() => ApiToken, { description: 'Revokes a token at once. The last admin token cannot be revoked.' })
  revokeApiToken(@Args('id', { type: () => ID }) id: string): Promise<ApiToken> {
    return this.auth.revoke(id);
  }
}
