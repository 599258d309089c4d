import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import semver from 'semver';
import { checkPlugin, type PluginDefinition, SDK_SEMVER } from '@netloom/plugin-sdk';
import { type SandboxOptions, startSandboxed } from './sandbox';
import { shareHostSdk } from './sdk-share';

export { shareHostSdk } from './sdk-share';
export { type SandboxedPlugin, type SandboxOptions, startSandboxed, userIds } from './sandbox';

/**
 * How the controller and the agent find and load plugins, one way for both: the built-in ones of
 * this build, then those named (`--plugins`), each an npm package installed in the plugin
 * directory (`--plugin-dir`, where an operator runs `npm install`) or a module's absolute path.
 * A plugin's `@netloom/plugin-sdk` is always the host's own copy, and the range its package asks
 * for (its peer dependency) must admit the host's SDK version.
 */

/** A plugin that loaded, and where from. */
export interface LoadedPlugin {
  plugin: PluginDefinition;
  /** As named (`--plugins`), or the built-in module's path. */
  specifier: string;
  /** The module file it was loaded from. */
  path: string;
}

/** A named plugin that was not loaded, and why (the whole sentence, for a log line or an error). */
export interface RefusedPlugin {
  specifier: string;
  reason: string;
}

const SDK = '@netloom/plugin-sdk';

/** The module paths of the built-in plugins in `dir`: `<dir>/<name>/src/index.js` (or `.ts` under jest), by name. */
export function builtinPluginModules(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => ['index.js', 'index.ts'].map((file) => join(dir, e.name, 'src', file)).find((path) => existsSync(path)))
    .filter((path): path is string => path !== undefined)
    .sort();
}

/** The module file of a plugin named by package name (installed in `pluginDir`) or by absolute path. */
export function resolvePlugin(specifier: string, pluginDir: string): string {
  if (isAbsolute(specifier)) {
    if (!existsSync(specifier)) throw new Error(`${specifier} does not exist`);
    return require.resolve(specifier);
  }
  try {
    return require.resolve(specifier, { paths: [resolve(pluginDir)] });
  } catch {
    throw new Error(`package ${specifier} is not installed in the plugin directory ${resolve(pluginDir)} (npm install it there, or name the module by absolute path)`);
  }
}

/** The package.json nearest above a module file, with its name (none for a loose file). */
function packageOf(path: string): { name?: string; version?: string; peerDependencies?: Record<string, string>; dependencies?: Record<string, string> } | null {
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const manifest = JSON.parse(readFileSync(file, 'utf8')) as { name?: string };
      if (manifest.name) return manifest;
    }
    if (dirname(dir) === dir) return null;
  }
}

/**
 * Why the package of a plugin module cannot run on an SDK of version `host`, or null: the range it
 * names for `@netloom/plugin-sdk` (peer dependency, else dependency) must admit `host`. A loose
 * module or a package that names no range is not checked here (`sdk` in its definition still is).
 */
export function sdkRefusal(path: string, host: string = SDK_SEMVER): string | null {
  const manifest = packageOf(path);
  const range = manifest?.peerDependencies?.[SDK] ?? manifest?.dependencies?.[SDK];
  if (!manifest || !range) return null;
  const who = `${manifest.name}@${manifest.version ?? '?'}`;
  const wanted = semver.validRange(range) ? semver.minVersion(range) : null;
  if (!wanted) return `${who} names no valid ${SDK} version range (${JSON.stringify(range)})`;
  if (semver.satisfies(host, range)) return null;
  if (wanted.major !== semver.major(host)) {
    return `${who} is built for ${SDK} ${wanted.major}.x (${range}); this NetLoom has SDK ${host}: install a release of the plugin for SDK ${semver.major(host)}.x`;
  }
  return `${who} needs ${SDK} ${range} (at least ${wanted.version}); this NetLoom has SDK ${host}: upgrade NetLoom or install an older release of the plugin`;
}

/** The plugin a module exports, as `default` or `plugin`. */
function pluginOf(mod: unknown): PluginDefinition | undefined {
  const m = mod as { default?: unknown; plugin?: unknown } | null;
  const candidate = m?.default ?? m?.plugin;
  return candidate && typeof candidate === 'object' ? (candidate as PluginDefinition) : undefined;
}

/**
 * Loads the built-in plugins found in `builtinDir`, then those named, in that order. A plugin is
 * refused when it cannot be found or loaded, exports none, asks for an SDK this host does not
 * have, fails the SDK's `checkPlugin`, or has the id of one already loaded. What the caller does
 * with refusals is its own choice (the controller stops, an agent logs them and goes on).
 */
export function loadPlugins(opts: {
  specifiers: readonly string[];
  pluginDir: string;
  builtinDir: string;
  /** How a module is loaded (default: `require`). */
  load?: (path: string) => unknown;
}): { loaded: LoadedPlugin[]; refused: RefusedPlugin[] } {
  shareHostSdk();
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const load = opts.load ?? ((path: string): unknown => require(path));
  const loaded: LoadedPlugin[] = [];
  const refused: RefusedPlugin[] = [];
  const named = opts.specifiers.map((specifier) => ({ specifier, builtin: false }));
  for (const { specifier, builtin } of [...builtinPluginModules(opts.builtinDir).map((path) => ({ specifier: path, builtin: true })), ...named]) {
    const refuse = (reason: string): void => void refused.push({ specifier, reason: `plugin ${specifier} refused: ${reason}` });
    let path: string;
    let plugin: PluginDefinition | undefined;
    try {
      path = builtin ? specifier : resolvePlugin(specifier, opts.pluginDir);
      const sdk = builtin ? null : sdkRefusal(path);
      if (sdk) {
        refuse(sdk);
        continue;
      }
      plugin = pluginOf(load(path));
    } catch (error) {
      refuse(`cannot be loaded: ${error instanceof Error ? error.message : String(error)}`);
      continue;
    }
    if (!plugin) {
      refuse('it exports no plugin (as default or plugin)');
      continue;
    }
    let problem: string | null;
    try {
      problem = checkPlugin(plugin);
    } catch (error) {
      problem = `not a plugin definition (${error instanceof Error ? error.message : String(error)})`;
    }
    if (!problem && loaded.some((p) => p.plugin.id === plugin.id)) problem = `plugin ${plugin.id} is already loaded (from ${loaded.find((p) => p.plugin.id === plugin.id)!.specifier})`;
    if (problem) {
      refuse(problem);
      continue;
    }
    loaded.push({ plugin, specifier, path });
  }
  return { loaded, refused };
}

/**
 * The agent's way for third-party plugins: each named one found and its SDK range checked as
 * {@link loadPlugins} does, then loaded by a sandbox process of its own (see `sandbox.ts`), never
 * in the agent; its definition as the sandbox reports it checked with `checkPlugin`, and against
 * the ids of `others` (the built-ins already loaded). A refused one's process is ended.
 */
export async function loadSandboxedPlugins(opts: {
  specifiers: readonly string[];
  pluginDir: string;
  others: readonly PluginDefinition[];
  sandbox: Omit<SandboxOptions, 'pluginPath'>;
}): Promise<{ loaded: (LoadedPlugin & { close(): Promise<void>; pid: number | undefined })[]; refused: RefusedPlugin[] }> {
  const loaded: (LoadedPlugin & { close(): Promise<void>; pid: number | undefined })[] = [];
  const refused: RefusedPlugin[] = [];
  for (const specifier of opts.specifiers) {
    const refuse = (reason: string): void => void refused.push({ specifier, reason: `plugin ${specifier} refused: ${reason}` });
    let path: string;
    try {
      path = resolvePlugin(specifier, opts.pluginDir);
    } catch (error) {
      refuse(`cannot be loaded: ${error instanceof Error ? error.message : String(error)}`);
      continue;
    }
    const sdk = sdkRefusal(path);
    if (sdk) {
      refuse(sdk);
      continue;
    }
    let sandboxed;
    try {
      sandboxed = await startSandboxed({ ...opts.sandbox, pluginPath: path });
    } catch (error) {
      refuse(`cannot be loaded: ${error instanceof Error ? error.message : String(error)}`);
      continue;
    }
    const plugin = sandboxed.definition;
    const ids = [...opts.others.map((p) => p.id), ...loaded.map((p) => p.plugin.id)];
    const problem = checkPlugin(plugin) ?? (ids.includes(plugin.id) ? `plugin ${plugin.id} is already loaded` : null);
    if (problem) {
      refuse(problem);
      await sandboxed.close();
      continue;
    }
    loaded.push({ plugin, specifier, path, close: () => sandboxed.close(), get pid() {
      return sandboxed.pid;
    } });
  }
  return { loaded, refused };
}
