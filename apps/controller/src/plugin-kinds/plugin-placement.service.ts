import { parseIp } from '../ipam/ipam';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { IntentView, Placement, PluginDefinition, PluginResource as SdkResource } from '@netloom/plugin-sdk';
import { PluginPlacement } from '../realization/compile';
import { Placer } from '../realization/realizer';
import { PluginRegistry } from './plugin-registry';
import { PLUGIN_REGISTRY } from './tokens';

/** Asks each plugin where its resources go: the placers realization calls. */
@Injectable()
export class PluginPlacementService {
  private readonly logger = new Logger('Plugins');
  private readonly placers = new Map<PluginDefinition, Placer>();

  constructor(@Inject(PLUGIN_REGISTRY) private readonly registry: PluginRegistry) {}

  /** The placer of a kind: its plugin's controller half, checked and logged; undefined when no loaded plugin places it. */
  placerOf(kind: string): Placer | undefined {
    const plugin = this.registry.kind(kind)?.plugin;
    if (!plugin?.controller) return undefined;
    let placer = this.placers.get(plugin);
    if (!placer) {
      const controller = plugin.controller;
      placer = {
        pluginId: plugin.id,
        kinds: new Set(Object.keys(plugin.kinds)),
        place: async (resource: SdkResource, view: IntentView) => {
          try {
            return checkPlacements(resource, await controller.place(resource, view));
          } catch (error) {
            // A place() that fails skips its resource until it, or what it read, changes again;
            // the realizer places it nowhere and keeps the reason for its GraphQL `placement`.
            const reason = error instanceof Error ? error.message : String(error);
            this.logger.warn(`plugin ${plugin.id}: place(${resource.kind} ${resource.name}) failed, skipped: ${reason}`);
            throw new Error(reason);
          }
        },
        observedForPlacement: (observed: Record<string, unknown>, kind: string) => {
          if (!controller.observedForPlacement) return undefined;
          try {
            return controller.observedForPlacement(observed, kind);
          } catch (error) {
            // Kept as nothing: the placement reads what it would without a report.
            this.logger.warn(`plugin ${plugin.id}: observedForPlacement(${kind}) failed: ${error instanceof Error ? error.message : String(error)}`);
            return undefined;
          }
        },
      };
      this.placers.set(plugin, placer);
    }
    return placer;
  }
}

/** A plugin's placements, checked: what compiling takes of them. */
function checkPlacements(resource: SdkResource, placements: Placement[]): PluginPlacement[] {
  if (!Array.isArray(placements)) throw new Error('place() did not return a list');
  for (const p of placements) {
    if (!p || typeof p.hostId !== 'string') throw new Error('a placement has no hostId');
    if (p.networks !== undefined && (!Array.isArray(p.networks) || p.networks.some((n) => typeof n !== 'string'))) {
      throw new Error('a placement has networks that are not a list of ids');
    }
  }
  return placements.map((p) => ({
    kind: resource.kind,
    id: resource.id,
    generation: resource.generation,
    hostId: p.hostId,
    spec: p.spec ?? null,
    networks: p.networks,
    endpoints: (p.endpoints ?? []).map(checkEndpoint),
    // Compiling keeps only ids of ports on that host.
    guards: p.guards,
  }));
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** An endpoint goes into other hosts' kernels: its MAC and addresses must be well formed. */
function checkEndpoint(e: { networkId: string; mac: string; ips: string[] }): { networkId: string; mac: string; ips: string[] } {
  const mac = typeof e?.mac === 'string' ? e.mac.toLowerCase() : '';
  if (typeof e?.networkId !== 'string' || !MAC.test(mac) || !Array.isArray(e.ips)) throw new Error('an endpoint needs a networkId, a MAC and a list of ips');
  return { networkId: e.networkId, mac, ips: e.ips.map((ip) => parseIp(String(ip)).text) };
}
