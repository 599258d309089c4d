import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SDK_SEMVER, SDK_VERSION } from '@netloom/plugin-sdk';
import { builtinPluginModules, loadPlugins, sdkRefusal } from '.';

// Plugins on disk as an operator has them: built-ins in <dir>/<name>/src/index.js, packages
// npm-installed in a plugin directory (node_modules/<name> with its package.json), loose modules.
describe('loading plugins (controller and agent alike)', () => {
  let dir: string;
  let pluginDir: string;
  let builtinDir: string;
  const pluginJs = (id: string, kind: string, exportAs = 'default', sdk = SDK_VERSION): string =>
    `const { definePlugin, t } = require('@netloom/plugin-sdk');\nexports.${exportAs} = definePlugin({ id: '${id}', version: '1.0.0', sdk: ${sdk}, kinds: { ${kind}: { fields: { n: t.int() } } } });\n`;
  const install = (name: string, manifest: Record<string, unknown>, js: string): void => {
    const root = join(pluginDir, 'node_modules', name);
    mkdirSync(root, { recursive: true });
    writeFileSync(join(root, 'package.json'), JSON.stringify({ name, version: '2.3.4', main: 'index.js', ...manifest }));
    writeFileSync(join(root, 'index.js'), js);
  };
  const peer = (range: string) => ({ peerDependencies: { '@netloom/plugin-sdk': range }, peerDependenciesMeta: { '@netloom/plugin-sdk': { optional: true } } });

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'netloom-plugin-host-'));
    pluginDir = join(dir, 'plugins');
    builtinDir = join(dir, 'builtin');
    mkdirSync(join(builtinDir, 'hello', 'src'), { recursive: true });
    mkdirSync(join(builtinDir, 'empty'), { recursive: true });
    writeFileSync(join(builtinDir, 'hello', 'src', 'index.js'), pluginJs('netloom.hello', 'Hello'));
    install('acme-qos', peer(`^${SDK_SEMVER}`), pluginJs('acme.qos', 'Qos'));
    install('acme-next-major', peer(`^${SDK_VERSION + 1}.0.0`), pluginJs('acme.next', 'Next'));
    install('acme-next-minor', peer(`^${SDK_VERSION}.${Number(SDK_SEMVER.split('.')[1]) + 1}.0`), pluginJs('acme.minor', 'Minor'));
    install('acme-nothing', peer('*'), 'exports.answer = 42;\n');
    install('acme-dup', peer('*'), pluginJs('acme.qos', 'Qos2', 'plugin'));
    install('acme-old-sdk-field', {}, pluginJs('acme.old', 'Old', 'default', 0));
    writeFileSync(join(dir, 'loose.js'), pluginJs('acme.loose', 'Loose', 'plugin'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('finds the built-ins in <dir>/<name>/src/index.js, none where the folder is missing', () => {
    expect(builtinPluginModules(builtinDir)).toEqual([join(builtinDir, 'hello', 'src', 'index.js')]);
    expect(builtinPluginModules(join(dir, 'nosuch'))).toEqual([]);
  });

  it('loads built-ins, then packages installed in the plugin directory and modules by path, with the host SDK', () => {
    const { loaded, refused } = loadPlugins({ specifiers: ['acme-qos', join(dir, 'loose.js')], pluginDir, builtinDir });
    expect(refused).toEqual([]);
    expect(loaded.map((p) => [p.plugin.id, p.specifier])).toEqual([
      ['netloom.hello', join(builtinDir, 'hello', 'src', 'index.js')],
      ['acme.qos', 'acme-qos'],
      ['acme.loose', join(dir, 'loose.js')],
    ]);
    expect(loaded[1].path).toBe(join(pluginDir, 'node_modules', 'acme-qos', 'index.js'));
  });

  it('refuses, with the reason, what it cannot use, and loads the rest', () => {
    const { loaded, refused } = loadPlugins({
      specifiers: ['acme-next-major', 'acme-next-minor', 'acme-missing', join(dir, 'nosuch.js'), 'acme-nothing', 'acme-qos', 'acme-dup', 'acme-old-sdk-field'],
      pluginDir,
      builtinDir: join(dir, 'nosuch'),
    });
    expect(loaded.map((p) => p.plugin.id)).toEqual(['acme.qos']);
    const why = Object.fromEntries(refused.map((r) => [r.specifier, r.reason]));
    expect(Object.keys(why)).toEqual(['acme-next-major', 'acme-next-minor', 'acme-missing', join(dir, 'nosuch.js'), 'acme-nothing', 'acme-dup', 'acme-old-sdk-field']);
    expect(why['acme-next-major']).toBe(
      `plugin acme-next-major refused: acme-next-major@2.3.4 is built for @netloom/plugin-sdk ${SDK_VERSION + 1}.x (^${SDK_VERSION + 1}.0.0); this NetLoom has SDK ${SDK_SEMVER}: install a release of the plugin for SDK ${SDK_VERSION}.x`,
    );
    expect(why['acme-next-minor']).toMatch(new RegExp(`needs @netloom/plugin-sdk \\^${SDK_VERSION}\\.\\d+\\.0 \\(at least ${SDK_VERSION}\\.\\d+\\.0\\); this NetLoom has SDK ${SDK_SEMVER.replace(/\./g, '\\.')}: upgrade NetLoom`));
    expect(why['acme-missing']).toMatch(/cannot be loaded: package acme-missing is not installed in the plugin directory .*plugins \(npm install it there/);
    expect(why[join(dir, 'nosuch.js')]).toMatch(/cannot be loaded: .*nosuch.js does not exist/);
    expect(why['acme-nothing']).toMatch(/exports no plugin/);
    expect(why['acme-dup']).toMatch(/plugin acme.qos is already loaded \(from acme-qos\)/);
    expect(why['acme-old-sdk-field']).toMatch(/targets SDK 0/);
  });

  it('checks the range a package names for the SDK against the host version', () => {
    const at = (name: string) => join(pluginDir, 'node_modules', name, 'index.js');
    expect(sdkRefusal(at('acme-qos'))).toBeNull();
    expect(sdkRefusal(at('acme-qos'), '1.9.0')).toBeNull();
    expect(sdkRefusal(at('acme-next-major'), '2.0.1')).toBeNull();
    expect(sdkRefusal(at('acme-next-minor'), '1.0.0')).toMatch(/needs/);
    expect(sdkRefusal(join(dir, 'loose.js'))).toBeNull();
  });
});
