import { Global, Module } from '@nestjs/common';
import { HealthController } from './health.controller';
import { MetricsCollectors } from './metrics-collectors';
import { MetricsController } from './metrics.controller';
import { MetricsService } from './metrics.service';

/** Probes and Prometheus metrics. Global: services observe what they time through `MetricsService`. */
@Global()
@Module({
  controllers: [HealthController, MetricsController],
  providers: [MetricsService, MetricsCollectors],
  exports: [MetricsService],
})
export class ObservabilityModule {}
