import { resolve } from 'node:path';
import { badInput } from '@netloom/model';
import { loadPlugins } from '@netloom/plugin-host';
import { checkPlugin, FieldType, KindDefinition, PluginDefinition } from '@netloom/plugin-sdk';

/** One kind of one loaded plugin. */
export interface LoadedKind {
  name: string;
  plugin: PluginDefinition;
  definition: KindDefinition;
}

const CORE_REFS = new Set(['Host', 'Network', 'Subnet', 'Port']);
/** Fields every resource has; a spec field may not shadow them. */
const RESERVED_FIELDS = new Set(['id', 'name', 'labels', 'generation', 'createdAt', 'updatedAt', 'status', 'placement', 'kind']);
const FIELD_NAME = /^[a-z][A-Za-z0-9]{0,62}$/;

/** The plugins this controller serves, and their kinds by name (unique across plugins). */
export class PluginRegistry {
  private readonly byKind = new Map<string, LoadedKind>();
  readonly plugins: PluginDefinition[] = [];

  constructor(plugins: PluginDefinition[] = []) {
    for (const plugin of plugins) this.add(plugin);
  }

  /**
   * Built-in plugins of this build, then the named ones (packages installed in `pluginDir`, or
   * absolute module paths). The controller serves their kinds' API, so one it cannot load stops
   * it (BAD_USER_INPUT, every refusal named) rather than start without them.
   */
  static load(specifiers: readonly string[], pluginDir: string, builtinDir = resolve(__dirname, '../../../../plugins')): PluginRegistry {
    // <root>/apps/controller/src/plugin-kinds → <root>/plugins (root is dist/ in a build, the repo in jest).
    const { loaded, refused } = loadPlugins({ specifiers, pluginDir, builtinDir });
    if (refused.length) throw badInput(refused.map((r) => r.reason).join('; '));
    return new PluginRegistry(loaded.map((p) => p.plugin));
  }

  add(plugin: PluginDefinition): void {
    const problem = checkPlugin(plugin);
    if (problem) throw badInput(problem);
    if (this.plugins.some((p) => p.id === plugin.id)) throw badInput(`plugin ${plugin.id} is loaded twice`);
    for (const [name, definition] of Object.entries(plugin.kinds)) {
      const other = this.byKind.get(name);
      if (other) throw badInput(`plugins ${other.plugin.id} and ${plugin.id} both declare kind ${name}`);
      checkFields(plugin, name, definition.fields, true);
      if (definition.observed) checkFields(plugin, name, definition.observed, false);
    }
    for (const [name, definition] of Object.entries(plugin.kinds)) this.byKind.set(name, { name, plugin, definition });
    this.plugins.push(plugin);
  }

  get kinds(): LoadedKind[] {
    return [...this.byKind.values()];
  }

  kind(name: string): LoadedKind | undefined {
    return this.byKind.get(name);
  }
}

function checkFields(plugin: PluginDefinition, kind: string, fields: Record<string, FieldType>, top: boolean): void {
  for (const [field, type] of Object.entries(fields)) {
    if (!FIELD_NAME.test(field) || (top && RESERVED_FIELDS.has(field))) {
      throw badInput(`plugin ${plugin.id}: ${kind}.${field} is not a valid field name`);
    }
    checkType(plugin, kind, field, type);
  }
}

function checkType(plugin: PluginDefinition, kind: string, field: string, type: FieldType): void {
  switch (type.type) {
    case 'ref':
      if (!CORE_REFS.has(type.kind) && !(type.kind in plugin.kinds)) {
        throw badInput(`plugin ${plugin.id}: ${kind}.${field} refers to ${type.kind}, neither a core kind nor one of its own`);
      }
      return;
    case 'enum':
      if (!type.values.length || type.values.some((v) => !/^[A-Z_a-z][A-Z_a-z0-9]*$/.test(v))) {
        throw badInput(`plugin ${plugin.id}: enum ${type.name} needs values that are GraphQL names`);
      }
      return;
    case 'object':
      return checkFields(plugin, kind, type.fields, false);
    case 'list':
      return checkType(plugin, kind, field, type.of);
    default:
      return;
  }
}
