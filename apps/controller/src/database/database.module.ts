import { Global, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { MIGRATIONS } from '@netloom/migrations';
import { HostAgent } from '../agents/host-agent.entity';
import { ResourceStatus } from '../realization/resource-status.entity';
import { ApiToken } from '../auth/api-token.entity';
import { AuditEntry } from '../audit/audit-entry.entity';
import { Change } from '../changes/change.entity';
import { ControllerConfig, describeDatabase } from '../config';
import { Host } from '../hosts/host.entity';
import { Network } from '../networks/network.entity';
import { PluginResource } from '../plugin-kinds/plugin-resource.entity';
import { IpAllocation } from '../ports/ip-allocation.entity';
import { Port } from '../ports/port.entity';
import { Subnet } from '../subnets/subnet.entity';
import { EmbeddedStore } from './embedded-store';
import { Store } from './store';
import { CONTROLLER_CONFIG } from './tokens';

export const ENTITIES = [ApiToken, Change, Host, Network, Subnet, Port, IpAllocation, HostAgent, ResourceStatus, PluginResource, AuditEntry];

/** The configured store, opened (SQLite: locked and checked; PostgreSQL: answering and checked) before TypeORM connects. */
@Global()
@Module({
  providers: [
    {
      provide: Store,
      inject: [CONTROLLER_CONFIG],
      useFactory: async (config: ControllerConfig): Promise<Store> => {
        const { database } = config;
        // PostgreSQL's module (and its driver, pg) is loaded only when it is used.
        const store =
          database.kind === 'postgres'
            ? new (await import('./postgres-store')).PostgresStore(database.url, describeDatabase(database))
            : new EmbeddedStore(config.dataDir, database.file);
        await store.open();
        return store;
      },
    },
  ],
  exports: [Store],
})
class StoreModule {}

// dataSourceFactory gets no injections: the options carry their store to it through this map.
const storeOf = new WeakMap<object, Store>();

@Global()
@Module({
  imports: [
    StoreModule,
    TypeOrmModule.forRootAsync({
      imports: [StoreModule],
      inject: [Store],
      // A failure at start is the store's or the configuration's: no retries (they took 25 s);
      // PostgreSQL's open() has already waited for the server.
      useFactory: (store: Store) => {
        const options = { ...store.options(), entities: ENTITIES, migrations: MIGRATIONS, synchronize: false, retryAttempts: 0 };
        storeOf.set(options, store);
        return options;
      },
      dataSourceFactory: async (options) => {
        const store = options && storeOf.get(options);
        if (!options || !store) throw new Error('database options without their store');
        const dataSource = await new DataSource(options).initialize();
        try {
          await store.migrate(dataSource);
        } catch (error) {
          await dataSource.destroy();
          throw error;
        }
        return dataSource;
      },
    }),
  ],
  exports: [StoreModule],
})
export class DatabaseModule {}
