import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Global, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { Database } from 'better-sqlite3';
import { DataSourceOptions } from 'typeorm';
import { MIGRATIONS } from '@netloom/migrations';
import { HostAgent } from '../agents/host-agent.entity';
import { ResourceStatus } from '../agents/resource-status.entity';
import { ApiToken } from '../auth/api-token.entity';
import { Change } from '../changes/change.entity';
import { ControllerConfig } from '../config';
import { Host } from '../hosts/host.entity';
import { Network } from '../networks/network.entity';
import { PluginResource } from '../plugin-kinds/plugin-resource.entity';
import { IpAllocation } from '../ports/ip-allocation.entity';
import { Port } from '../ports/port.entity';
import { Subnet } from '../subnets/subnet.entity';
import { CONTROLLER_CONFIG } from './tokens';

export const ENTITIES = [ApiToken, Change, Host, Network, Subnet, Port, IpAllocation, HostAgent, ResourceStatus, PluginResource];

/** The embedded default: one SQLite file, WAL, foreign keys on, migrations applied at start. */
export function sqliteOptions(file: string): DataSourceOptions {
  mkdirSync(dirname(file), { recursive: true });
  return {
    type: 'better-sqlite3',
    database: file,
    entities: ENTITIES,
    migrations: MIGRATIONS,
    migrationsRun: true,
    synchronize: false,
    prepareDatabase: (db: Database) => {
      db.pragma('journal_mode = WAL');
      db.pragma('foreign_keys = ON');
      db.pragma('busy_timeout = 5000');
    },
  };
}

@Global()
@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      inject: [CONTROLLER_CONFIG],
      useFactory: (config: ControllerConfig) => sqliteOptions(config.databaseFile),
    }),
  ],
})
export class DatabaseModule {}
