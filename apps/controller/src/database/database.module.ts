import { Global, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { HostAgent } from '../agents/host-agent.entity';
import { ResourceStatus } from '../realization/resource-status.entity';
import { ApiToken } from '../auth/api-token.entity';
import { Change } from '../changes/change.entity';
import { ControllerConfig } from '../config';
import { Host } from '../hosts/host.entity';
import { Network } from '../networks/network.entity';
import { PluginResource } from '../plugin-kinds/plugin-resource.entity';
import { IpAllocation } from '../ports/ip-allocation.entity';
import { Port } from '../ports/port.entity';
import { Subnet } from '../subnets/subnet.entity';
import { EmbeddedStore } from './embedded-store';
import { CONTROLLER_CONFIG } from './tokens';

export const ENTITIES = [ApiToken, Change, Host, Network, Subnet, Port, IpAllocation, HostAgent, ResourceStatus, PluginResource];

/** The embedded store, opened (locked and checked) before TypeORM sees the file. */
@Global()
@Module({
  providers: [
    {
      provide: EmbeddedStore,
      inject: [CONTROLLER_CONFIG],
      useFactory: (config: ControllerConfig) => {
        const store = new EmbeddedStore(config.dataDir, config.databaseFile);
        store.open();
        return store;
      },
    },
  ],
  exports: [EmbeddedStore],
})
class StoreModule {}

@Global()
@Module({
  imports: [
    StoreModule,
    TypeOrmModule.forRootAsync({
      imports: [StoreModule],
      inject: [EmbeddedStore],
      // A failure at start is the file's or the configuration's: no retries (they took 25 s).
      useFactory: (store: EmbeddedStore) => ({ ...store.options(ENTITIES), retryAttempts: 0 }),
    }),
  ],
  exports: [StoreModule],
})
export class DatabaseModule {}
