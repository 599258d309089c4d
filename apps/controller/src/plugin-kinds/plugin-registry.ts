import { existsSync, readdirSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { badInput } from '@netloom/model';
import { checkPlugin, FieldType, KindDefinition, PluginDefinition } from '@netloom/plugin-sdk';

/** One kind of one loaded plugin. */
export interface LoadedKind {
  name: string;
  plugin: PluginDefinition;
  definition: KindDefinition;
}

const CORE_REFS = new Set(['Host', 'Network', 'Subnet', 'Port']);
/** Fields every resource has; a spec field may not shadow them. */
const RESERVED_FIELDS = new Set(['id', 'name', 'labels', 'generation', 'createdAt', 'updatedAt', 'status', 'kind']);
const FIELD_NAME = /^[a-z][A-Za-z0-9]{0,62}$/;

/** The plugins this controller serves, and their kinds by name (unique across plugins). */
export class PluginRegistry {
  private readonly byKind = new Map<string, LoadedKind>();
  readonly plugins: PluginDefinition[] = [];

  constructor(plugins: PluginDefinition[] = []) {
    for (const plugin of plugins) this.add(plugin);
  }

  /** Built-in plugins of this build, then the named modules (npm packages or absolute paths). */
  static load(moduleNames: string[], builtinDir = defaultBuiltinDir()): PluginRegistry {
    const modules = [...builtinModules(builtinDir), ...moduleNames.map(resolveModule)];
    return new PluginRegistry(modules.map(importPlugin));
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

// <root>/apps/controller/src/plugins → <root>/plugins (root is dist/ in a build, the repo in jest).
const defaultBuiltinDir = (): string => resolve(__dirname, '../../../../plugins');

function builtinModules(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const found: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    for (const file of ['src/index.js', 'src/index.ts']) {
      const path = join(dir, name, file);
      if (existsSync(path)) {
        found.push(path);
        break;
      }
    }
  }
  return found;
}

function resolveModule(name: string): string {
  if (isAbsolute(name)) return name;
  try {
    return require.resolve(name, { paths: [process.cwd(), __dirname] });
  } catch {
    throw badInput(`plugin module ${name} not found (give an installed package name or an absolute path)`);
  }
}

function importPlugin(path: string): PluginDefinition {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const loaded = require(path) as { default?: PluginDefinition; plugin?: PluginDefinition };
  const plugin = loaded.default ?? loaded.plugin;
  if (!plugin || typeof plugin !== 'object') throw badInput(`plugin module ${path} exports neither default nor plugin`);
  return plugin;
}
