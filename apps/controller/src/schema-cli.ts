import 'reflect-metadata';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createController, printControllerSchema } from './bootstrap';
import { loadConfig } from './config';

/**
 * Writes the served SDL to schema.graphql (`npm run schema`), or with `--check` fails when the
 * committed file and the code disagree.
 */
async function main(): Promise<void> {
  const check = process.argv.includes('--check');
  const target = resolve(__dirname, '../../../../schema.graphql');
  const dataDir = mkdtempSync(join(tmpdir(), 'netloom-schema-'));
  try {
    const app = await createController(loadConfig([], { NETLOOM_DATA_DIR: dataDir, NETLOOM_LOG_LEVEL: 'warn' }));
    const sdl = await printControllerSchema(app);
    await app.close();
    if (!check) {
      writeFileSync(target, sdl);
      process.stdout.write(`wrote ${target}\n`);
      return;
    }
    if (readFileSync(target, 'utf8') !== sdl) {
      process.stderr.write('schema.graphql is out of date: run `npm run build && npm run schema` and commit it\n');
      process.exitCode = 1;
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
