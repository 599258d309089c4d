import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The repository root, found from this file whether it runs from source (jest) or from dist/. */
function findRoot(from: string): string {
  let dir = from;
  while (!existsSync(join(dir, 'nest-cli.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no repository root above ${from}`);
    dir = parent;
  }
  return dir;
}

export const REPO_ROOT = findRoot(__dirname);
/** A built entry point, e.g. `dist('apps/agent/src/main.js')`. */
export const dist = (path: string): string => join(REPO_ROOT, 'dist', path);
