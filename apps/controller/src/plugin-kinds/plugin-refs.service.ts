import { Inject, Injectable } from '@nestjs/common';
import { EntityManager } from 'typeorm';
import { conflict } from '@netloom/model';
import type { FieldType } from '@netloom/plugin-sdk';
import { PLUGIN_REGISTRY } from './tokens';
import { PluginRegistry } from './plugin-registry';
import { PluginResource } from './plugin-resource.entity';
import { validateSpec } from './spec-validation';

/** Whether a kind's schema has a `blocksDelete` ref to a Port anywhere. */
function blocksPortDeletes(fields: Record<string, FieldType>): boolean {
  const blocks = (f: FieldType): boolean =>
    f.type === 'ref' ? f.kind === 'Port' && !!f.blocksDelete : f.type === 'list' ? blocks(f.of) : f.type === 'object' ? Object.values(f.fields).some(blocks) : false;
  return Object.values(fields).some(blocks);
}

/** What plugin resources' refs forbid the core to delete (kept apart from the resources service: the core services use it). */
@Injectable()
export class PluginRefsService {
  constructor(@Inject(PLUGIN_REGISTRY) private readonly registry: PluginRegistry) {}

  /**
   * Refuses (CONFLICT, nothing written) to delete core ports a plugin resource names in a
   * `blocksDelete` ref — a load balancer's member, a router's floating IP — naming the resource
   * and its field. Run in the deleting transaction, before anything goes.
   */
  async assertPortsUnreferenced(em: EntityManager, portIds: readonly string[], field = 'input.id'): Promise<void> {
    if (!portIds.length) return;
    const ids = new Set(portIds);
    for (const loaded of this.registry.kinds) {
      if (!blocksPortDeletes(loaded.definition.fields)) continue;
      const rows = await em.find(PluginResource, { select: { id: true, name: true, kind: true, spec: true }, where: { kind: loaded.name } });
      for (const row of rows) {
        const ref = validateSpec(loaded.definition.fields, row.spec, 'spec').refs.find((r) => r.kind === 'Port' && r.blocksDelete && ids.has(r.id));
        if (ref) throw conflict(`port ${ref.id} is used by ${row.kind} ${row.name} (${ref.field}): take it out there first`, field);
      }
    }
  }
}
