import { resolveAssets } from './assets';

describe('web assets', () => {
  it('maps every asset name to a file that exists, vendor builds from node_modules', () => {
    const assets = resolveAssets();
    expect([...assets.keys()]).toEqual(expect.arrayContaining(['graphiql.min.js', 'react.production.min.js', 'cytoscape.min.js', 'graphql-ws.min.js', 'token.js']));
    expect(assets.get('graphiql.min.js')).toMatch(/node_modules\/graphiql\/graphiql\.min\.js$/);
    expect(assets.get('cytoscape.min.js')).toMatch(/node_modules\/cytoscape\/dist\/cytoscape\.min\.js$/);
  });

  it('refuses to start when a package is missing', () => {
    const resolve = (specifier: string): string => {
      if (specifier.startsWith('react-dom/')) throw new Error(`Cannot find module '${specifier}'`);
      return require.resolve(specifier);
    };
    expect(() => resolveAssets(resolve)).toThrow(/react-dom/);
  });
});
