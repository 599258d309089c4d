import { ApolloDriver, ApolloDriverConfig } from '@nestjs/apollo';
import { DynamicModule, Global, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { GraphQLModule } from '@nestjs/graphql';
import { getDataSourceToken } from '@nestjs/typeorm';
import { LoggerModule, type Params as LoggingParams } from 'nestjs-pino';
import { DataSource } from 'typeorm';
import { AgentsModule } from './agents/agents.module';
import { AuditModule } from './audit/audit.module';
import { AuthModule } from './auth/auth.module';
import { AuthService } from './auth/auth.service';
import { ChangesModule } from './changes/changes.module';
import { ChangesService } from './changes/changes.service';
import { NetloomErrorFilter } from './common/graphql-errors';
import { ControllerConfig } from './config';
import { CountersModule } from './counters/counters.module';
import { DatabaseModule } from './database/database.module';
import { CONTROLLER_CONFIG } from './database/tokens';
import { graphqlOptions } from './graphql.config';
import { HostsModule } from './hosts/hosts.module';
import { NetworksModule } from './networks/networks.module';
import { NodesModule } from './nodes/nodes.module';
import { MetricsService } from './observability/metrics.service';
import { ObservabilityModule } from './observability/observability.module';
import { PlanModule } from './plan/plan.module';
import { PluginGraphqlService } from './plugin-kinds/plugin-graphql.service';
import { PluginsApiModule, PluginsModule } from './plugin-kinds/plugins.module';
import { PortsModule } from './ports/ports.module';
import { RealizationModule } from './realization/realization.module';
import { SubnetsModule } from './subnets/subnets.module';
import { TraceModule } from './trace/trace.module';
import { WebModule } from './web/web.module';

@Global()
@Module({})
class ConfigModule {
  static forRoot(config: ControllerConfig): DynamicModule {
    return {
      module: ConfigModule,
      providers: [{ provide: CONTROLLER_CONFIG, useValue: config }],
      exports: [CONTROLLER_CONFIG],
    };
  }
}

@Module({})
export class AppModule {
  static forRoot(config: ControllerConfig, logging: LoggingParams): DynamicModule {
    return {
      module: AppModule,
      providers: [{ provide: APP_FILTER, useClass: NetloomErrorFilter }],
      imports: [
        LoggerModule.forRoot(logging),
        ConfigModule.forRoot(config),
        ObservabilityModule,
        DatabaseModule,
        ChangesModule,
        AuthModule,
        AuditModule,
        HostsModule,
        NetworksModule,
        SubnetsModule,
        PortsModule,
        NodesModule,
        PluginsModule,
        RealizationModule,
        AgentsModule,
        CountersModule,
        TraceModule,
        PlanModule,
        WebModule,
        GraphQLModule.forRootAsync<ApolloDriverConfig>({
          driver: ApolloDriver,
          imports: [AuthModule, PluginsApiModule],
          inject: [AuthService, getDataSourceToken(), PluginGraphqlService, MetricsService, ChangesService],
          useFactory: (auth: AuthService, dataSource: DataSource, plugins: PluginGraphqlService, metrics: MetricsService, changes: ChangesService) =>
            graphqlOptions(config, auth, dataSource, (schema) => plugins.extendSchema(schema), metrics, changes),
        }),
      ],
    };
  }
}
