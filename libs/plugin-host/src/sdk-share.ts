import Module from 'node:module';
import { join } from 'node:path';

const SDK = '@netloom/plugin-sdk';
/** The host's own SDK entries: `src/index` and `src/testing` of libs/plugin-sdk (JavaScript in a build, TypeScript under jest). */
const HOST_SDK: Record<string, string> = {
  [SDK]: join(__dirname, '..', '..', 'plugin-sdk', 'src', 'index'),
  [`${SDK}/testing`]: join(__dirname, '..', '..', 'plugin-sdk', 'src', 'testing'),
};

type ResolveFilename = (request: string, parent: unknown, isMain: boolean, options?: unknown) => string;
let shared = false;

/**
 * From now on, `require('@netloom/plugin-sdk')` anywhere in this process (a plugin in a plugin
 * directory above all, which has no copy of its own: the SDK is its peer dependency) gives the
 * host's own SDK: one instance, so its classes and constants are the host's. Idempotent.
 */
export function shareHostSdk(): void {
  if (shared) return;
  shared = true;
  const mod = Module as unknown as { _resolveFilename: ResolveFilename };
  const original = mod._resolveFilename;
  mod._resolveFilename = function (request, parent, isMain, options) {
    const own = HOST_SDK[request];
    return original.call(this, own ?? request, parent, isMain, own ? undefined : options);
  };
}
