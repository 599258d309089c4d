import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { definePlugin, PluginDefinition, t } from '@netloom/plugin-sdk';
import { PluginRegistry } from './plugin-registry';

const plugin = (id: string, kinds: PluginDefinition['kinds'], extra: Partial<PluginDefinition> = {}): PluginDefinition =>
  definePlugin({ id, version: '1.0.0', sdk: 1, kinds, ...extra });

describe('PluginRegistry', () => {
  it('indexes kinds by name', () => {
    const registry = new PluginRegistry([plugin('acme.a', { Router: { fields: { hostId: t.ref('Host'), peer: t.ref('Router') } } })]);
    expect(registry.kind('Router')?.plugin.id).toBe('acme.a');
    expect(registry.kinds.map((k) => k.name)).toEqual(['Router']);
  });

  it('refuses what checkPlugin refuses, duplicate kinds, bad field names and foreign refs', () => {
    expect(() => new PluginRegistry([plugin('Acme', {})])).toThrow(/lowercase dotted/);
    expect(() => new PluginRegistry([plugin('acme.a', {}, { sdk: 2 })])).toThrow(/SDK 2/);
    expect(() => new PluginRegistry([plugin('acme.a', { Host: { fields: {} } })])).toThrow(/not a valid kind/);
    expect(() => new PluginRegistry([plugin('acme.a', { Qos: { fields: {} } }), plugin('acme.b', { Qos: { fields: {} } })])).toThrow(
      /both declare kind Qos/,
    );
    expect(() => new PluginRegistry([plugin('acme.a', {}), plugin('acme.a', {})])).toThrow(/loaded twice/);
    expect(() => new PluginRegistry([plugin('acme.a', { Qos: { fields: { name: t.string() } } })])).toThrow(/Qos.name/);
    expect(() => new PluginRegistry([plugin('acme.a', { Qos: { fields: { placement: t.string() } } })])).toThrow(/Qos.placement/);
    expect(() => new PluginRegistry([plugin('acme.a', { Qos: { fields: { peer: t.ref('Router') } } })])).toThrow(/refers to Router/);
    expect(() => new PluginRegistry([plugin('acme.a', { Qos: { fields: { m: t.enum('M', ['a-b']) } } })])).toThrow(/enum M/);
    expect(() => new PluginRegistry([plugin('acme.a', { Qos: { fields: {}, observed: { 'bad-name': t.counter() } } })])).toThrow(/Qos.bad-name/);
    expect(() => new PluginRegistry([plugin('acme.a', { Qos: { fields: {}, observed: { peer: t.ref('Router') } } })])).toThrow(/refers to Router/);
  });

  describe('load', () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'netloom-registry-'));
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('loads built-in plugins from <dir>/<name>/src/index.js and named modules by absolute path', () => {
      const builtin = join(dir, 'builtin');
      const write = (path: string, id: string, kind: string, exportName: string) => {
        mkdirSync(join(path, '..'), { recursive: true });
        writeFileSync(path, `module.exports.${exportName} = { id: '${id}', version: '0.1.0', sdk: 1, kinds: { ${kind}: { fields: {} } } };`);
      };
      write(join(builtin, 'router', 'src', 'index.js'), 'netloom.router', 'Router', 'default');
      write(join(dir, 'extra.js'), 'acme.qos', 'Qos', 'plugin');
      const registry = PluginRegistry.load([join(dir, 'extra.js')], join(dir, 'plugins'), builtin);
      expect(registry.plugins.map((p) => p.id)).toEqual(['netloom.router', 'acme.qos']);
      expect(PluginRegistry.load([], join(dir, 'plugins'), join(dir, 'none')).plugins).toEqual([]);
      // The controller serves the kinds of what it is told to load: one it cannot load stops it.
      expect(() => PluginRegistry.load(['no-such-netloom-plugin'], join(dir, 'plugins'), join(dir, 'none'))).toThrow(
        /plugin no-such-netloom-plugin refused: cannot be loaded: package no-such-netloom-plugin is not installed in the plugin directory/,
      );
    });
  });
});
