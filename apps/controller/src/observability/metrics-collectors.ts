import { Injectable } from '@nestjs/common';
import { Gauge } from 'prom-client';
import { ChangesService } from '../changes/changes.service';
import { DispatcherService } from '../realization/dispatcher.service';
import { MetricsService } from './metrics.service';

const STATES = ['CONNECTED', 'DISCONNECTED', 'LOST'] as const;

/** The gauges read when scraped: the revision, agents by state, and how far each host's agent is behind. */
@Injectable()
export class MetricsCollectors {
  constructor(metrics: MetricsService, changes: ChangesService, dispatcher: DispatcherService) {
    const registers = [metrics.registry];
    new Gauge({
      name: 'netloom_revision',
      help: 'The newest change-feed revision this controller has delivered.',
      registers,
      collect() {
        this.set(changes.lastRevision);
      },
    });
    new Gauge({
      name: 'netloom_agents',
      help: "Hosts by their agent's state (CONNECTED here or to another replica; DISCONNECTED within the grace period; LOST).",
      labelNames: ['state'] as const,
      registers,
      collect() {
        const hosts = dispatcher.hosts();
        for (const state of STATES) this.set({ state }, hosts.filter((h) => h.state === state).length);
      },
    });
    new Gauge({
      name: 'netloom_host_applied_revision_lag',
      help: "Revisions between the newest one and the one a host's agent last applied (hosts whose agent acked since this controller started).",
      labelNames: ['host_id'] as const,
      registers,
      collect() {
        this.reset();
        for (const h of dispatcher.hosts()) if (h.applied > 0) this.set({ host_id: h.hostId }, Math.max(0, changes.lastRevision - h.applied));
      },
    });
  }
}
