import { Module } from '@nestjs/common';
import { NetworksResolver } from './networks.resolver';
import { NetworksService } from './networks.service';

@Module({ providers: [NetworksService, NetworksResolver] })
export class NetworksModule {}
