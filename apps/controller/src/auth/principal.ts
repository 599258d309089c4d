import { Role } from './api-token.entity';

/** Who is calling: the API token behind the request. */
export interface Principal {
  tokenId: string;
  name: string;
  role: Role;
}

/** What the GraphQL context holds for every operation, HTTP and websocket alike. */
export interface RequestContext {
  principal: Principal;
}
