import { parseIp } from '../ipam/ipam';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, In } from 'typeorm';
import { IntentView, PluginDefinition } from '@netloom/plugin-sdk';
import { PluginPlacement } from '../realization/compile';
import { databaseIntentView, toSdkResource } from './intent-view';
import { PluginRegistry } from './plugin-registry';
import { PluginResource } from './plugin-resource.entity';
import { PLUGIN_REGISTRY } from './tokens';

/** Asks each plugin where its resources go; what compiling needs of plugin resources. */
@Injectable()
export class PluginPlacementService {
  private readonly logger = new Logger('Plugins');

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(PLUGIN_REGISTRY) private readonly registry: PluginRegistry,
  ) {}

  /** Every placement of every resource of a loaded kind. A place() that fails skips its resource, this time. */
  async placeAll(): Promise<PluginPlacement[]> {
    const kinds = this.registry.kinds.filter((k) => k.plugin.controller);
    if (!kinds.length) return [];
    const em = this.dataSource.manager;
    const resources = await em.find(PluginResource, { where: { kind: In(kinds.map((k) => k.name)) }, order: { id: 'ASC' } });
    const views = new Map<PluginDefinition, IntentView>();
    const out: PluginPlacement[] = [];
    for (const resource of resources) {
      const { plugin } = this.registry.kind(resource.kind)!;
      // One view per plugin and flush, so the tables are read once; resources() leaves none out here.
      const view = views.get(plugin) ?? databaseIntentView(em, plugin);
      views.set(plugin, view);
      try {
        const placements = await plugin.controller!.place(toSdkResource(resource), view);
        if (!Array.isArray(placements)) throw new Error('place() did not return a list');
        for (const p of placements) {
          if (!p || typeof p.hostId !== 'string') throw new Error('a placement has no hostId');
          if (p.networks !== undefined && (!Array.isArray(p.networks) || p.networks.some((n) => typeof n !== 'string'))) {
            throw new Error('a placement has networks that are not a list of ids');
          }
        }
        for (const p of placements) {
          out.push({
            kind: resource.kind,
            id: resource.id,
            generation: resource.generation,
            hostId: p.hostId,
            spec: p.spec ?? null,
            networks: p.networks,
            endpoints: (p.endpoints ?? []).map(checkEndpoint),
            // Compiling keeps only ids of ports on that host.
            guards: p.guards,
          });
        }
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        this.logger.warn(`plugin ${plugin.id}: place(${resource.kind} ${resource.name}) failed, skipped: ${reason}`);
      }
    }
    return out;
  }
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** An endpoint goes into other hosts' kernels: its MAC and addresses must be well formed. */
function checkEndpoint(e: { networkId: string; mac: string; ips: string[] }): { networkId: string; mac: string; ips: string[] } {
  const mac = typeof e?.mac === 'string' ? e.mac.toLowerCase() : '';
  if (typeof e?.networkId !== 'string' || !MAC.test(mac) || !Array.isArray(e.ips)) throw new Error('an endpoint needs a networkId, a MAC and a list of ips');
  return { networkId: e.networkId, mac, ips: e.ips.map((ip) => parseIp(String(ip)).text) };
}
