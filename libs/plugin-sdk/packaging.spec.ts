import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compileSdk, extractApi, inSdkWorkDir, REPORT_DIR, sdkManifest } from './packaging';
import { SDK_SEMVER, SDK_VERSION } from './src';

describe('the plugin SDK as a package', () => {
  jest.setTimeout(180_000);
  let changed: string[];
  const read: Record<string, string> = {};

  beforeAll(async () => {
    await inSdkWorkDir((work) => {
      compileSdk(work);
      changed = extractApi(work, 'check');
      for (const file of ['package/index.d.ts', 'package/testing.d.ts', 'lib/plugin-sdk/src/host-context-impl.js']) read[file] = readFileSync(join(work, file), 'utf8');
    });
  });

  it('matches its API reports: a change to the public surface must update libs/plugin-sdk/api (npm run api-report)', () => {
    expect(changed).toEqual([]);
    expect(readFileSync(join(REPORT_DIR, 'plugin-sdk.api.md'), 'utf8')).toContain('export function definePlugin');
    // A warning API Extractor cannot place on an item names a file by its path on this machine: export the type it names.
    for (const report of ['plugin-sdk.api.md', 'plugin-sdk-testing.api.md']) expect(readFileSync(join(REPORT_DIR, report), 'utf8')).not.toContain(join(__dirname, '..', '..'));
  });

  it('keeps the test kits out of the main entry, and the testing entry refers to the main one by name', () => {
    const main = read['package/index.d.ts'];
    const testing = read['package/testing.d.ts'];
    expect(main).not.toMatch(/agentTestHost|runController/);
    expect(testing).toMatch(/export declare function agentTestHost/);
    expect(testing).toMatch(/from '@netloom\/plugin-sdk'/);
    expect(testing).not.toMatch(/interface PluginDefinition/);
  });

  it('leaves no path alias in its JavaScript', () => {
    const index = read['lib/plugin-sdk/src/host-context-impl.js'];
    expect(index).toMatch(/require\("\.\.\/\.\.\/linux\/src"\)/);
    expect(index).not.toMatch(/@netloom\/(?!plugin-sdk)/);
  });

  it('has one version: the manifest, SDK_SEMVER and SDK_VERSION (its major) agree; its dependencies are the repo\'s', () => {
    const manifest = sdkManifest();
    expect(manifest.version).toBe(SDK_SEMVER);
    expect(Number(SDK_SEMVER.split('.')[0])).toBe(SDK_VERSION);
    const root = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    for (const [name, range] of Object.entries(manifest.dependencies)) expect(`${name}@${range}`).toBe(`${name}@${root.dependencies[name]}`);
  });
});
