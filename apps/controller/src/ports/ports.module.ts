import { Module } from '@nestjs/common';
import { FixedIpResolver, PortsResolver } from './ports.resolver';
import { PortsService } from './ports.service';

@Module({ providers: [PortsService, PortsResolver, FixedIpResolver] })
export class PortsModule {}
