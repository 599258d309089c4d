import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The pages' own files: copied next to the built code by `npm run build`, read from source under jest. */
export const PUBLIC_DIR = join(__dirname, 'public');

/**
 * Every file served under `/ui/assets/`, by the name in the URL: the pages' own scripts and
 * styles, and the browser builds (UMD, minified) of the npm packages they use. A fixed table,
 * so nothing else on disk can be asked for.
 */
const ASSETS: Record<string, { from: string; file: string } | { own: string }> = {
  'graphiql.min.js': { from: 'graphiql/package.json', file: 'graphiql.min.js' },
  'graphiql.min.css': { from: 'graphiql/package.json', file: 'graphiql.min.css' },
  'react.production.min.js': { from: 'react/package.json', file: 'umd/react.production.min.js' },
  'react-dom.production.min.js': { from: 'react-dom/package.json', file: 'umd/react-dom.production.min.js' },
  'graphql-ws.min.js': { from: 'graphql-ws/package.json', file: 'umd/graphql-ws.min.js' },
  // cytoscape exports no package.json, but its browser build by name.
  'cytoscape.min.js': { from: 'cytoscape/dist/cytoscape.min.js', file: 'cytoscape.min.js' },
  'token.js': { own: 'token.js' },
  'web.css': { own: 'web.css' },
  'graphiql-page.js': { own: 'graphiql-page.js' },
  'topology.js': { own: 'topology.js' },
};

/** The pages, by route. */
export const PAGES = { graphiql: join(PUBLIC_DIR, 'graphiql.html'), topology: join(PUBLIC_DIR, 'topology.html') } as const;

/** The absolute path of each asset; throws (at start-up) when one is missing, e.g. a package not installed. */
export function resolveAssets(resolve: (specifier: string) => string = require.resolve): Map<string, string> {
  const paths = new Map<string, string>();
  for (const [name, source] of Object.entries(ASSETS)) {
    const path = 'own' in source ? join(PUBLIC_DIR, source.own) : join(dirname(resolve(source.from)), source.file);
    if (!existsSync(path)) throw new Error(`web asset ${name} not found at ${path}`);
    paths.set(name, path);
  }
  for (const page of Object.values(PAGES)) if (!existsSync(page)) throw new Error(`web page not found at ${page}`);
  return paths;
}
