import { Inject, Injectable } from '@nestjs/common';
import { GraphQLSchema } from 'graphql';
import { DispatcherService } from '../realization/dispatcher.service';
import { ChangeWaiter } from '../realization/wait.interceptor';
import { authorize } from '../auth/roles.guard';
import { DeleteInput } from '../common/inputs';
import { lookup } from '../common/resource-ops';
import type { GraphQLContext } from '../graphql.config';
import { PluginRegistry } from './plugin-registry';
import { PluginResource } from './plugin-resource.entity';
import { PluginResourceFilter, PluginResourceInput, PluginResourcesService } from './plugin-resources.service';
import { PLUGIN_REGISTRY } from './tokens';
import { extendSchemaWithPlugins, kindNames, PlacementView, placementView, PluginFieldHandlers } from './plugin-schema';

/**
 * The generated plugin fields' resolvers. They run outside Nest's resolver pipeline, so they
 * call its rules themselves: the same `authorize` as RolesGuard, the same `ChangeWaiter` as
 * WaitInterceptor.
 */
@Injectable()
export class PluginGraphqlService implements PluginFieldHandlers {
  constructor(
    @Inject(PLUGIN_REGISTRY) private readonly registry: PluginRegistry,
    private readonly resources: PluginResourcesService,
    private readonly dispatcher: DispatcherService,
    private readonly waiter: ChangeWaiter,
  ) {}

  /** For the Apollo driver's transformSchema hook. */
  extendSchema(schema: GraphQLSchema): GraphQLSchema {
    return extendSchemaWithPlugins(schema, this.registry.kinds, this);
  }

  list(kind: string, args: Record<string, unknown>): unknown {
    const { filter, ...page } = args;
    return this.resources.list(kind, filter as PluginResourceFilter | undefined, page);
  }

  get(kind: string, args: Record<string, unknown>): unknown {
    return this.resources.find(kind, lookup(args.id as string | undefined, args.name as string | undefined));
  }

  create(kind: string, args: Record<string, unknown>, context: unknown): unknown {
    return this.mutate(context, `create${kind}`, args.wait, () => this.resources.create(kind, args.input as PluginResourceInput));
  }

  createMany(kind: string, args: Record<string, unknown>, context: unknown): unknown {
    return this.mutate(context, kindNames(kind).createMany, args.wait, () => this.resources.createMany(kind, args.inputs as PluginResourceInput[]));
  }

  update(kind: string, args: Record<string, unknown>, context: unknown): unknown {
    return this.mutate(context, `update${kind}`, args.wait, () => this.resources.update(kind, args.input as PluginResourceInput));
  }

  delete(kind: string, args: Record<string, unknown>, context: unknown): unknown {
    return this.mutate(context, `delete${kind}`, args.wait, () => this.resources.delete(kind, args.input as DeleteInput));
  }

  status(resource: PluginResource, context: unknown): unknown {
    return (context as GraphQLContext).loaders.statusesByResource.load(resource.id);
  }

  placement(resource: PluginResource): PlacementView {
    return placementView(resource.generation, this.dispatcher.placementOf(resource.id));
  }

  /** Through the request's dataloaders: a page of resources naming the same ports costs one statement per kind. */
  async load(kind: string, id: string, context: unknown): Promise<unknown> {
    const { loaders } = context as GraphQLContext;
    switch (kind) {
      case 'Host':
        return loaders.host.load(id);
      case 'Network':
        return loaders.network.load(id);
      case 'Subnet':
        return loaders.subnet.load(id);
      case 'Port':
        return loaders.port.load(id);
      default: {
        const resource = await loaders.pluginResource.load(id);
        return resource?.kind === kind ? resource : null;
      }
    }
  }

  private mutate<T>(context: unknown, field: string, wait: unknown, run: () => Promise<T>): Promise<T> {
    authorize((context as Partial<GraphQLContext> | undefined)?.principal, true, field);
    return this.waiter.around(wait === true, run);
  }
}
