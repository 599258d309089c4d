import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { compileSdk, extractApi, REPORT_DIR, sdkManifest, sdkWorkDir } from './packaging';
import { SDK_SEMVER, SDK_VERSION } from './src';

describe('the plugin SDK as a package', () => {
  jest.setTimeout(180_000);
  let work: string;
  let changed: string[];

  beforeAll(() => {
    work = sdkWorkDir();
    compileSdk(work);
    changed = extractApi(work, 'check');
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('matches its API reports: a change to the public surface must update libs/plugin-sdk/api (npm run api-report)', () => {
    expect(changed).toEqual([]);
    expect(readFileSync(join(REPORT_DIR, 'plugin-sdk.api.md'), 'utf8')).toContain('export function definePlugin');
  });

  it('keeps the test kits out of the main entry, and the testing entry refers to the main one by name', () => {
    const main = readFileSync(join(work, 'package', 'index.d.ts'), 'utf8');
    const testing = readFileSync(join(work, 'package', 'testing.d.ts'), 'utf8');
    expect(main).not.toMatch(/agentTestHost|runController/);
    expect(testing).toMatch(/export declare function agentTestHost/);
    expect(testing).toMatch(/from '@netloom\/plugin-sdk'/);
    expect(testing).not.toMatch(/interface PluginDefinition/);
  });

  it('leaves no path alias in its JavaScript', () => {
    const index = readFileSync(join(work, 'lib', 'plugin-sdk', 'src', 'host-context-impl.js'), 'utf8');
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
