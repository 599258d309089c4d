import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

/** Seconds: from a fraction of a millisecond (a read) to the 30 s a `wait` may take. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * The controller's Prometheus metrics, in a registry of its own (several controllers may share
 * a process in tests). Services observe what they time; `MetricsCollectors` adds the gauges read
 * at scrape time; `GET /metrics` serves them.
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();

  /** GraphQL operations by type, root field (bounded by the schema) and outcome (OK or the error code). */
  readonly requests = new Counter({
    name: 'netloom_graphql_requests_total',
    help: 'GraphQL operations answered over HTTP, by operation type, root field and outcome (OK or the first error code).',
    labelNames: ['type', 'field', 'code'] as const,
    registers: [this.registry],
  });

  readonly requestSeconds = new Histogram({
    name: 'netloom_graphql_request_duration_seconds',
    help: 'Time to answer a GraphQL operation over HTTP (mutations with wait: true include the wait).',
    labelNames: ['type', 'field'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly commitSeconds = new Histogram({
    name: 'netloom_commit_duration_seconds',
    help: 'Write transactions, from their turn in the write queue to COMMIT.',
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly dispatchSeconds = new Histogram({
    name: 'netloom_dispatch_duration_seconds',
    help: 'Dispatcher passes: re-reading the changed rows, recomputing what they touch, sending each agent its delta.',
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly auditPrunePasses = new Counter({
    name: 'netloom_audit_prune_passes_total',
    help: 'Passes of the audit log retention prune (each removes what is past the retention, in bounded batches).',
    registers: [this.registry],
  });

  /** Its count is the prune's transactions that removed something, its sum the entries removed. */
  readonly auditPruneBatches = new Histogram({
    name: 'netloom_audit_prune_batch_entries',
    help: 'Audit entries past the retention removed per prune transaction (bounded by the batch size).',
    buckets: [1, 10, 100, 250, 500],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }
}
