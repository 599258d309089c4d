import { Module } from '@nestjs/common';
import { AgentsModule } from '../agents/agents.module';
import { TraceResolver } from './trace.resolver';
import { TraceService } from './trace.service';

/** `trace`: a real probe from a port, explained. */
@Module({ imports: [AgentsModule], providers: [TraceService, TraceResolver] })
export class TraceModule {}
