import { Module } from '@nestjs/common';
import { PlanResolver } from './plan.resolver';
import { PlanService } from './plan.service';

/** The `plan` query: what each host's agent would do for a proposed change. */
@Module({
  providers: [PlanService, PlanResolver],
})
export class PlanModule {}
