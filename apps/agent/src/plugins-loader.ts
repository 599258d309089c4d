import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { checkPlugin, type PluginDefinition } from '@netloom/plugin-sdk';
import type { Log } from './log';

/** Where built-in plugins are, compiled: `dist/plugins/<name>/src/index.js` (this file is `dist/apps/agent/src/…`). */
export const BUILTIN_PLUGINS_DIR = resolve(__dirname, '../../../plugins');

/** The module paths of the built-in plugins found in `dir` (none when it does not exist). */
export function builtinPluginModules(dir: string = BUILTIN_PLUGINS_DIR): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => join(dir, e.name, 'src', 'index.js'))
    .filter((path) => existsSync(path))
    .sort();
}

/** The plugin a module exports, as `default` or `plugin`. */
function pluginOf(mod: unknown): PluginDefinition<unknown> | undefined {
  const m = mod as { default?: unknown; plugin?: unknown } | null;
  const candidate = m?.default ?? m?.plugin;
  return candidate && typeof candidate === 'object' ? (candidate as PluginDefinition<unknown>) : undefined;
}

/**
 * Loads the built-in plugins and the npm packages named (`--plugins a,b`). Each is checked with
 * the SDK's `checkPlugin`; one that cannot be loaded or is refused is logged and skipped, as is a
 * second plugin with an id already loaded.
 */
export function loadPlugins(opts: {
  packages: readonly string[];
  log: Log;
  builtinDir?: string;
  /** How a module is loaded (tests pass their own). */
  load?: (specifier: string) => unknown;
}): PluginDefinition<unknown>[] {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const load = opts.load ?? ((specifier: string): unknown => require(specifier));
  const loaded: PluginDefinition<unknown>[] = [];
  for (const specifier of [...builtinPluginModules(opts.builtinDir), ...opts.packages]) {
    let plugin: PluginDefinition<unknown> | undefined;
    try {
      plugin = pluginOf(load(specifier));
    } catch (error) {
      opts.log(`plugin ${specifier}: cannot be loaded: ${error instanceof Error ? error.message : String(error)}`);
      continue;
    }
    if (!plugin) {
      opts.log(`plugin refused: ${specifier} exports no plugin (as default or plugin)`);
      continue;
    }
    let refused: string | null;
    try {
      refused = checkPlugin(plugin);
    } catch (error) {
      refused = `${specifier} is not a plugin definition (${error instanceof Error ? error.message : String(error)})`;
    }
    if (refused) {
      opts.log(`plugin refused: ${refused}`, { level: 'warn' });
      continue;
    }
    if (loaded.some((p) => p.id === plugin.id)) {
      opts.log(`plugin ${plugin.id} from ${specifier}: already loaded; skipped`);
      continue;
    }
    opts.log(`plugin ${plugin.id} ${plugin.version} loaded from ${specifier}`);
    loaded.push(plugin);
  }
  return loaded;
}
