import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { Extractor, ExtractorConfig, type ExtractorMessage, type IConfigFile } from '@microsoft/api-extractor';
import ts from 'typescript';

/**
 * How `@netloom/plugin-sdk` becomes an npm package (`npm run sdk:pack`): its two entry points
 * (`.` and `./testing`) compiled with what they import of the monorepo (model, linux, planner)
 * into `lib/`, path aliases turned into relative requires, the declarations rolled up into one
 * `index.d.ts` and one `testing.d.ts` by API Extractor, whose reports (`libs/plugin-sdk/api/`)
 * record the public surface: a test fails when the code and the report differ.
 */

// Works from the sources (jest) and from dist/ (npm run sdk:pack).
const SDK_DIR = existsSync(join(__dirname, 'src', 'index.ts')) ? __dirname : resolve(__dirname, '../../../libs/plugin-sdk');
const REPO = resolve(SDK_DIR, '../..');
export const REPORT_DIR = join(SDK_DIR, 'api');
const SELF = '@netloom/plugin-sdk';

/** The package's entry points: the module, its rolled-up declarations, its API report. */
const ENTRIES = [
  { module: 'index', dts: 'index.d.ts', report: 'plugin-sdk.api.md' },
  { module: 'testing', dts: 'testing.d.ts', report: 'plugin-sdk-testing.api.md' },
] as const;

/** The SDK's package.json (name, version, exports, dependencies), as committed. */
export function sdkManifest(): { name: string; version: string; dependencies: Record<string, string> } {
  return JSON.parse(readFileSync(join(SDK_DIR, 'package.json'), 'utf8')) as { name: string; version: string; dependencies: Record<string, string> };
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

/**
 * Compiles the entry points and everything they import into `<work>/lib/<lib>/src/…` (JavaScript
 * and declarations). The monorepo's aliases become relative paths; the testing entry keeps
 * importing the main one by the package's name, so its declarations refer to the main entry's
 * types instead of copying them (Node resolves the self-reference through `exports`).
 */
export function compileSdk(work: string): void {
  const config = ts.readConfigFile(join(REPO, 'tsconfig.json'), (path) => ts.sys.readFile(path));
  const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, REPO);
  const lib = join(work, 'lib');
  const options: ts.CompilerOptions = {
    ...parsed.options,
    outDir: lib,
    rootDir: join(REPO, 'libs'),
    declaration: true,
    sourceMap: false,
    declarationMap: false,
    noEmit: false,
    noUnusedLocals: false,
    noUnusedParameters: false,
  };
  const program = ts.createProgram(
    ENTRIES.map((e) => join(SDK_DIR, 'src', `${e.module}.ts`)),
    options,
  );
  const diagnostics = [...ts.getPreEmitDiagnostics(program), ...program.emit().diagnostics];
  if (diagnostics.length) {
    throw new Error(`the SDK does not compile:\n${ts.formatDiagnostics(diagnostics, { getCanonicalFileName: (f) => f, getCurrentDirectory: () => REPO, getNewLine: () => '\n' })}`);
  }
  const aliases = Object.keys(parsed.options.paths ?? {}).filter((a) => !a.includes('*'));
  const left: string[] = [];
  for (const file of walk(lib).filter((f) => /\.(js|d\.ts)$/.test(f))) {
    const text = readFileSync(file, 'utf8').replace(/(["'])(@netloom\/[a-z-]+(?:\/[a-z-]+)?)\1/g, (whole, quote: string, name: string) => {
      if (name === SELF || name === `${SELF}/testing`) return whole;
      const target = parsed.options.paths?.[name]?.[0];
      if (!target || !aliases.includes(name)) return whole;
      const to = join(lib, relative(join(REPO, 'libs'), join(REPO, target)));
      const rel = relative(dirname(file), to);
      return `${quote}${rel.startsWith('.') ? rel : `./${rel}`}${quote}`;
    });
    writeFileSync(file, text);
    const unresolved = text.match(/(["'])@netloom\/(?!plugin-sdk\1)[^"']+\1/);
    if (unresolved) left.push(`${relative(lib, file)}: ${unresolved[0]}`);
  }
  if (left.length) throw new Error(`path aliases left in the SDK's output:\n${left.join('\n')}`);
}

/**
 * Runs API Extractor on each entry point: rolled-up declarations into `<work>/package/`, and the
 * report compared with `libs/plugin-sdk/api/` (`write`: the report is rewritten instead). Returns
 * the entries whose report differs (empty when all match), and throws on an extractor error.
 */
export function extractApi(work: string, mode: 'check' | 'write'): string[] {
  const pkg = join(work, 'package');
  mkdirSync(pkg, { recursive: true });
  const changed: string[] = [];
  for (const entry of ENTRIES) {
    const configObject: IConfigFile = {
      projectFolder: work,
      mainEntryPointFilePath: join(work, 'lib', 'plugin-sdk', 'src', `${entry.module}.d.ts`),
      bundledPackages: [],
      compiler: {
        overrideTsconfig: {
          compilerOptions: { target: 'ES2022', module: 'commonjs', moduleResolution: 'node', lib: ['ES2023'], types: ['node'], strict: true, esModuleInterop: true, skipLibCheck: true },
          files: [join(work, 'lib', 'plugin-sdk', 'src', `${entry.module}.d.ts`)],
        },
      },
      apiReport: { enabled: true, reportFolder: REPORT_DIR, reportTempFolder: join(work, 'api-temp'), reportFileName: entry.report.replace(/\.api\.md$/, '') },
      docModel: { enabled: false },
      dtsRollup: { enabled: true, untrimmedFilePath: join(pkg, entry.dts) },
      tsdocMetadata: { enabled: false },
      messages: {
        compilerMessageReporting: { default: { logLevel: 'error' as never } },
        extractorMessageReporting: {
          default: { logLevel: 'warning' as never, addToApiReportFile: true },
          // The SDK marks no release stages (alpha, beta): everything exported is public.
          'ae-missing-release-tag': { logLevel: 'none' as never },
          // Field-level JSDoc and {@link member} references are for readers of the source, not checked here.
          'ae-undocumented': { logLevel: 'none' as never, addToApiReportFile: false },
          'ae-unresolved-link': { logLevel: 'none' as never, addToApiReportFile: false },
        },
        tsdocMessageReporting: { default: { logLevel: 'none' as never } },
      },
    };
    const config = ExtractorConfig.prepare({ configObject, configObjectFullPath: undefined, packageJsonFullPath: join(SDK_DIR, 'package.json') });
    const errors: string[] = [];
    const result = Extractor.invoke(config, {
      localBuild: mode === 'write',
      messageCallback: (message: ExtractorMessage) => {
        if (String(message.logLevel) === 'error') errors.push(message.formatMessageWithLocation(work));
        message.handled = true;
      },
    });
    if (errors.length) throw new Error(`API Extractor on ${entry.module}:\n${errors.join('\n')}`);
    if (result.apiReportChanged) changed.push(entry.report);
    if (entry.module === 'index') {
      // The testing entry's `@netloom/plugin-sdk` imports stay imports: the main rollup, as an installed package.
      const self = join(work, 'node_modules', ...SELF.split('/'));
      mkdirSync(self, { recursive: true });
      writeFileSync(join(self, 'package.json'), JSON.stringify({ name: SELF, version: sdkManifest().version, types: 'index.d.ts' }));
      cpSync(join(pkg, entry.dts), join(self, 'index.d.ts'));
    }
  }
  return changed;
}

/** The package folder `<work>/package` (manifest, README, lib/ JavaScript, rolled-up declarations), packed by npm into `outDir`; returns the tarball's path. */
export function packSdk(work: string, outDir: string): string {
  const pkg = join(work, 'package');
  cpSync(join(SDK_DIR, 'package.json'), join(pkg, 'package.json'));
  cpSync(join(SDK_DIR, 'README.md'), join(pkg, 'README.md'));
  cpSync(join(work, 'lib'), join(pkg, 'lib'), { recursive: true, filter: (src) => statSync(src).isDirectory() || src.endsWith('.js') });
  mkdirSync(outDir, { recursive: true });
  const out = execFileSync('npm', ['pack', '--silent', '--pack-destination', resolve(outDir)], { cwd: pkg, encoding: 'utf8' });
  return join(resolve(outDir), out.trim().split('\n').pop()!);
}

/**
 * Runs `fn` in the work folder, inside the repository (so API Extractor finds the dependencies'
 * types in its node_modules) and always the same one (the reports name files in it), one run at a
 * time (a lock folder beside it; jest may run the report check and a packing test together).
 */
export async function inSdkWorkDir<T>(fn: (work: string) => T): Promise<Awaited<T>> {
  const work = join(REPO, 'dist', 'sdk-build');
  const lock = `${work}.lock`;
  mkdirSync(dirname(work), { recursive: true });
  for (const deadline = Date.now() + 300_000; ; ) {
    try {
      mkdirSync(lock);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    rmSync(work, { recursive: true, force: true });
    mkdirSync(work, { recursive: true });
    return await fn(work);
  } finally {
    rmSync(work, { recursive: true, force: true });
    rmSync(lock, { recursive: true, force: true });
  }
}
