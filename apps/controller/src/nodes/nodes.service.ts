import { Inject, Injectable } from '@nestjs/common';
import { badInput, checkListSize, isId } from '@netloom/model';
import { Role } from '../auth/api-token.entity';
import { NODE_TYPE } from '../common/node';
import type { GraphQLContext } from '../graphql.config';
import { FoundNode } from '../loaders/loaders';
import { PluginRegistry } from '../plugin-kinds/plugin-registry';
import { PLUGIN_REGISTRY } from '../plugin-kinds/tokens';

type Shown = FoundNode['object'] & { [NODE_TYPE]: string };

/**
 * Objects of any kind by their global ids, with the rules of each kind's own queries: API tokens
 * (but the caller's own, as `me`) and audit entries only for admins. What the caller may not see
 * is null, as an unknown id is, so its existence is not given away.
 */
@Injectable()
export class NodesService {
  constructor(@Inject(PLUGIN_REGISTRY) private readonly registry: PluginRegistry) {}

  async get(id: string, context: GraphQLContext): Promise<Shown | null> {
    const [found] = await this.getMany([id], context, 'id');
    return found;
  }

  async getMany(ids: string[], context: GraphQLContext, field = 'ids'): Promise<(Shown | null)[]> {
    checkListSize(ids, field);
    ids.forEach((id, i) => {
      if (!isId(id)) throw badInput(`${JSON.stringify(id.slice(0, 80))} is not an id (a UUID)`, field === 'id' ? field : `${field}.${i}`);
    });
    const found = await context.loaders.node.loadMany(ids);
    return found.map((result) => {
      if (result instanceof Error) throw result;
      return result && this.visible(result, context) ? Object.assign(result.object, { [NODE_TYPE]: result.type }) : null;
    });
  }

  private visible({ type, object }: FoundNode, { principal }: GraphQLContext): boolean {
    switch (type) {
      case 'ApiToken':
        return principal.role === Role.ADMIN || object.id === principal.tokenId;
      case 'AuditEntry':
        return principal.role === Role.ADMIN;
      case 'Host':
      case 'Network':
      case 'Subnet':
      case 'Port':
        return true;
      default:
        // A plugin kind no longer loaded has no type in the schema: as if it were gone.
        return this.registry.kinds.some((kind) => kind.name === type);
    }
  }
}
