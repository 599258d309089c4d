import { Module } from '@nestjs/common';
import { SubnetsResolver } from './subnets.resolver';
import { SubnetsService } from './subnets.service';

@Module({ providers: [SubnetsService, SubnetsResolver] })
export class SubnetsModule {}
