import { Module } from '@nestjs/common';
import { HostsResolver } from './hosts.resolver';
import { HostsService } from './hosts.service';

@Module({ providers: [HostsService, HostsResolver] })
export class HostsModule {}
