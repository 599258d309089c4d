/**
 * The controller's pages in a real browser: the OS's Chromium, headless, driven by puppeteer-core,
 * against a built controller. GraphiQL at /graphql and the topology page at /ui, both with a
 * viewer token typed into their token field. Screenshots go to test-output/.
 */
import { get } from 'node:http';
import type { Browser, Page } from 'puppeteer-core';
import { baseUrl, waitFor } from './support/agent';
import { closeBrowser, launchBrowser, screenshot } from './support/browser';
import { createHost, createNetwork, useController } from './support/fixtures';

jest.setTimeout(90_000);

const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8';

describe('the web pages', () => {
  const ctl = useController();
  let browser: Browser | undefined;
  let viewerToken = '';
  const pageErrors: string[] = [];

  beforeAll(async () => {
    browser = await launchBrowser();
    const made = await ctl().ok<{ createApiToken: { secret: string } }>(
      'mutation { createApiToken(input: { name: "web-viewer", role: VIEWER }) { secret } }',
    );
    viewerToken = made.createApiToken.secret;
  });

  afterAll(async () => {
    await closeBrowser(browser);
  });

  afterEach(() => {
    // Scripts of the pages never throw, whatever the test checked.
    expect(pageErrors).toEqual([]);
  });

  /** A fresh page (own localStorage: a new incognito context) with the token entered in its field. */
  const openWithToken = async (path: string, token: string): Promise<Page> => {
    const context = await browser!.createBrowserContext();
    const page = await context.newPage();
    page.on('pageerror', (error) => pageErrors.push(`${path}: ${error instanceof Error ? error.message : String(error)}`));
    await page.setViewport({ width: 1400, height: 900 });
    await page.goto(`${baseUrl(ctl().url)}${path}`, { waitUntil: 'load' });
    await page.type('#token-input', token);
    await page.click('#token-save');
    return page;
  };

  it('serves GraphiQL to browsers at /graphql, and the API unchanged to everything else', async () => {
    const url = ctl().url;
    const page = await fetch(url, { headers: { accept: BROWSER_ACCEPT } });
    expect([page.status, page.headers.get('content-type'), page.headers.get('cache-control')]).toEqual([200, 'text/html; charset=utf-8', 'no-cache']);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(await page.text()).toContain('/ui/assets/graphiql.min.js');
    // A GET that is not a browser asking for a page still meets Apollo's CSRF prevention…
    const plain = await fetch(url);
    expect(plain.status).toBe(400);
    expect(JSON.stringify(await plain.json())).toContain('CSRF');
    // …and a browser GET with a query is an API call (no token here: refused).
    const withQuery = await fetch(`${url}?query=${encodeURIComponent('{ me { name } }')}`, { headers: { accept: BROWSER_ACCEPT, 'apollo-require-preflight': 'x' } });
    expect(withQuery.status).toBe(401);
  });

  it('serves the assets from node_modules by name only, with validators for caching', async () => {
    const base = baseUrl(ctl().url);
    const asset = await fetch(`${base}/ui/assets/graphiql.min.js`);
    expect([asset.status, asset.headers.get('content-type'), asset.headers.get('cache-control')]).toEqual([200, 'text/javascript; charset=utf-8', 'no-cache']);
    const etag = asset.headers.get('etag');
    expect(etag).toBeTruthy();
    expect((await asset.text()).length).toBeGreaterThan(100_000);
    // (fetch() adds `cache-control: no-cache` to a conditional request, which defeats it: plain http.)
    const again = await new Promise<number>((done, fail) =>
      get(`${base}/ui/assets/graphiql.min.js`, { headers: { 'if-none-match': etag! } }, (res) => {
        res.resume();
        done(res.statusCode ?? 0);
      }).on('error', fail),
    );
    expect(again).toBe(304);
    for (const path of ['/ui/assets/', '/ui/assets/package.json', '/ui/assets/..%2F..%2F..%2Fpackage.json', '/ui/assets/%2e%2e%2fassets.js', '/ui/assets/../../package.json']) {
      expect({ path, status: (await fetch(`${base}${path}`)).status }).toEqual({ path, status: 404 });
    }
  });

  it('GraphiQL runs a query and a subscription with a viewer token entered once', async () => {
    const c = ctl();
    const host = await createHost(c);
    const page = await openWithToken('/graphql', viewerToken);
    await page.waitForSelector('.graphiql-query-editor .CodeMirror');
    const run = async (query: string): Promise<void> => {
      await page.$eval('.graphiql-query-editor .CodeMirror', (editor, text) => (editor as any).CodeMirror.setValue(text), query);
      // GraphiQL parses the editor's text on its next update (whether it is a subscription
      // decides the transport): give it that moment, as a person typing would.
      await new Promise((done) => setTimeout(done, 1_000));
      await page.click('.graphiql-execute-button');
    };
    const response = (): Promise<string> => page.$eval('.graphiql-response .CodeMirror', (editor) => (editor as any).CodeMirror.getValue() as string);

    await run('{ me { name role } hosts { edges { node { name } } } }');
    await waitFor(async () => (await response()).includes(host.host.name), 15_000, 100, 'the query result in GraphiQL');
    const result = JSON.parse(await response()) as { data: { me: { name: string; role: string } } };
    expect(result.data.me).toEqual({ name: 'web-viewer', role: 'VIEWER' });
    await screenshot(page, 'web-graphiql-query');

    // Over the API's graphql-ws endpoint, authenticated with the same token.
    await run('subscription { resourceChanges(kinds: ["Network"]) { kind operation id } }');
    // The subscription may not be live at the first create: create until one shows.
    const made: string[] = [];
    await waitFor(
      async () => {
        made.push((await createNetwork(c)).id);
        await new Promise((done) => setTimeout(done, 300));
        const shown = await response();
        return made.some((id) => shown.includes(id));
      },
      15_000,
      0,
      'a network created through the API in the subscription',
    );
    expect(await response()).toContain('"operation": "CREATE"');
    await screenshot(page, 'web-graphiql-subscription');
    await page.browserContext().close();
  });

});
