import { Global, Module } from '@nestjs/common';
import { ControllerConfig } from '../config';
import { CONTROLLER_CONFIG } from '../database/tokens';
import { PluginGraphqlService } from './plugin-graphql.service';
import { PluginPlacementService } from './plugin-placement.service';
import { PluginRefsService } from './plugin-refs.service';
import { PluginRegistry } from './plugin-registry';
import { PluginResourcesService } from './plugin-resources.service';
import { PLUGIN_REGISTRY } from './tokens';

/** The loaded plugins, their resources and placements (global: compiling needs them too). */
@Global()
@Module({
  providers: [
    { provide: PLUGIN_REGISTRY, inject: [CONTROLLER_CONFIG], useFactory: (config: ControllerConfig) => PluginRegistry.load(config.plugins, config.pluginDir) },
    PluginResourcesService,
    PluginPlacementService,
    PluginRefsService,
  ],
  exports: [PLUGIN_REGISTRY, PluginResourcesService, PluginPlacementService, PluginRefsService],
})
export class PluginsModule {}

/** The generated GraphQL API of plugin kinds, for the GraphQL module's schema hook. */
@Module({
  providers: [PluginGraphqlService],
  exports: [PluginGraphqlService],
})
export class PluginsApiModule {}
