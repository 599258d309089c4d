/**
 * The controller's pages in a real browser: the OS's Chromium, headless, driven by puppeteer-core,
 * against a built controller. GraphiQL at /graphql and the topology page at /ui, both with a
 * viewer token typed into their token field. Screenshots go to test-output/.
 */
import { get } from 'node:http';
import type { Browser, Page } from 'puppeteer-core';
import { baseUrl, waitFor } from './support/agent';
import { FakeAgent } from '@netloom/simhosts';
import { closeBrowser, launchBrowser, screenshot } from './support/browser';
import { createHost, createNetwork, createPort, createSubnet, uniqueName, useController } from './support/fixtures';

jest.setTimeout(90_000);

const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8';

describe('the web pages', () => {
  const ctl = useController();
  let browser: Browser | undefined;
  let viewerToken = '';
  const pageErrors: string[] = [];
  const agents: FakeAgent[] = [];

  beforeAll(async () => {
    browser = await launchBrowser();
    const made = await ctl().ok<{ createApiToken: { secret: string } }>(
      'mutation { createApiToken(input: { name: "web-viewer", role: VIEWER }) { secret } }',
    );
    viewerToken = made.createApiToken.secret;
  });

  afterAll(async () => {
    await closeBrowser(browser);
    for (const agent of agents) await agent.close();
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
      // GraphiQL takes in the editor's text on a debounced update (whether it is a subscription
      // decides the transport); that update also stores the text: run once it is stored.
      await page.waitForFunction((text) => (globalThis as unknown as { localStorage: { getItem(key: string): string | null } }).localStorage.getItem('graphiql:query') === text, { timeout: 15_000 }, query);
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

  /** What the page's graph says of one element (read through cytoscape, not from pixels). */
  interface NodeView {
    exists: boolean;
    kind?: string;
    state?: string;
    parent?: string | null;
    borderColor?: string;
    pFailed?: number;
  }
  const nodeView = (page: Page, id: string): Promise<NodeView> =>
    page.evaluate((nodeId) => {
      const node = (globalThis as any).netloomTopology.cy.getElementById(nodeId);
      if (node.empty()) return { exists: false };
      return { exists: true, kind: node.data('kind'), state: node.data('state'), parent: node.data('parent') ?? null, borderColor: node.style('border-color'), pFailed: node.data('pFailed') };
    }, id);
  const edgeExists = (page: Page, source: string, target: string): Promise<boolean> =>
    page.evaluate((s, t) => (globalThis as any).netloomTopology.cy.edges().some((e: any) => e.source().id() === s && e.target().id() === t), source, target);

  it('the topology page shows the network with a viewer token, then a new port and a failure without reload', async () => {
    const c = ctl();
    const base = baseUrl(c.url);
    const hostA = await createHost(c);
    const hostB = await createHost(c);
    for (const host of [hostA, hostB]) {
      const agent = await FakeAgent.join(base, host.joinToken);
      agents.push(agent);
      await agent.connect();
    }
    const network = await createNetwork(c);
    const subnet = await createSubnet(c, network.id, '10.80.0.0/24');
    const outside = await createNetwork(c);
    await createSubnet(c, outside.id, '203.0.113.0/24');
    const portA = await createPort(c, network.id, hostA.host.id);
    const portB = await createPort(c, network.id, hostB.host.id);
    const router = (
      await c.ok<{ createRouter: { id: string } }>('mutation($input: CreateRouterInput!) { createRouter(input: $input, wait: true) { id } }', {
        input: { name: uniqueName('router'), hostId: hostA.host.id, interfaces: [{ subnetId: subnet.id }] },
      })
    ).createRouter;
    const lb = (
      await c.ok<{ createLoadBalancer: { id: string } }>('mutation($input: CreateLoadBalancerInput!) { createLoadBalancer(input: $input, wait: true) { id } }', {
        input: {
          name: uniqueName('lb'),
          hostId: hostB.host.id,
          subnetId: subnet.id,
          listeners: [{ protocol: 'TCP', port: 80, pool: { algorithm: 'ROUND_ROBIN', members: [{ portId: portA.id, port: 8080 }, { portId: portB.id, port: 8080 }] } }],
        },
      })
    ).createLoadBalancer;
    const policy = (
      await c.ok<{ createFirewallPolicy: { id: string } }>('mutation($input: CreateFirewallPolicyInput!) { createFirewallPolicy(input: $input, wait: true) { id } }', {
        input: {
          name: uniqueName('fw'),
          selector: { portIds: [portA.id] },
          rules: [{ priority: 10, direction: 'INGRESS', action: 'ALLOW', protocol: 'TCP', ports: [{ from: 8080 }] }],
        },
      })
    ).createFirewallPolicy;
    // Both agents have acked everything so far: every placed resource shows APPLIED.
    await c.ok('mutation($input: UpdatePortInput!) { updatePort(input: $input, wait: true) { id } }', { input: { id: portB.id, name: uniqueName('port') } });

    const page = await openWithToken('/ui', viewerToken);
    await waitFor(async () => (await nodeView(page, policy.id)).exists, 15_000, 100, 'the objects on the page');
    for (const [id, kind, parent] of [
      [hostA.host.id, 'Host', null],
      [network.id, 'Network', null],
      [outside.id, 'Network', null],
      [portA.id, 'Port', hostA.host.id],
      [portB.id, 'Port', hostB.host.id],
      [router.id, 'Router', hostA.host.id],
      [lb.id, 'LoadBalancer', hostB.host.id],
      [policy.id, 'FirewallPolicy', null],
    ] as const) {
      expect({ id, ...(await nodeView(page, id)) }).toMatchObject({ id, exists: true, kind, parent });
    }
    await waitFor(async () => (await nodeView(page, portA.id)).state === 'APPLIED', 10_000, 100, 'port A shown APPLIED');
    expect((await nodeView(page, network.id)).state).toBe('APPLIED');
    expect(await edgeExists(page, portA.id, network.id)).toBe(true);
    expect(await edgeExists(page, router.id, network.id)).toBe(true);
    expect(await edgeExists(page, lb.id, portB.id)).toBe(true);
    expect(await edgeExists(page, policy.id, portA.id)).toBe(true);
    await screenshot(page, 'web-topology');

    // A port created through the API appears without a reload (the same document: a marker set now stays).
    await page.evaluate(() => ((globalThis as any).sameDocument = true));
    const portC = await createPort(c, network.id, hostB.host.id);
    await waitFor(async () => (await nodeView(page, portC.id)).exists, 10_000, 100, 'the new port on the page');
    expect(await nodeView(page, portC.id)).toMatchObject({ kind: 'Port', parent: hostB.host.id });
    await waitFor(async () => (await nodeView(page, portC.id)).state === 'APPLIED', 10_000, 100, 'the new port APPLIED');
    expect(await edgeExists(page, portC.id, network.id)).toBe(true);
    expect(await page.evaluate(() => (globalThis as any).sameDocument)).toBe(true);
    await screenshot(page, 'web-topology-new-port');

    // Its agent reports it FAILED: it turns red, and its panel gives the reason.
    const before = await nodeView(page, portC.id);
    expect(before.borderColor).not.toBe('rgb(220,38,38)');
    agents[1].fail({ kind: 'Port', id: portC.id }, 'RTNETLINK answers: File exists (simulated)');
    await waitFor(async () => (await nodeView(page, portC.id)).state === 'FAILED', 10_000, 100, 'the port shown FAILED');
    expect(await nodeView(page, portC.id)).toMatchObject({ state: 'FAILED', borderColor: 'rgb(220,38,38)', pFailed: 100 });
    expect((await nodeView(page, portA.id)).state).toBe('APPLIED');
    await page.evaluate((id) => (globalThis as any).netloomTopology.cy.getElementById(id).emit('tap'), portC.id);
    const panel = await page.$eval('#details', (box) => (box as any).innerText as string);
    expect(panel).toContain(portC.name);
    expect(panel).toContain(hostB.host.name);
    expect(panel).toContain('FAILED');
    expect(panel).toContain('RTNETLINK answers: File exists (simulated)');
    expect(await page.evaluate(() => (globalThis as any).sameDocument)).toBe(true);
    await screenshot(page, 'web-topology-failed');

    // Deleted through the API: gone from the graph, and the panel says so.
    await c.ok('mutation($input: DeleteInput!) { deletePort(input: $input) { deletedIds } }', { input: { id: portC.id } });
    await waitFor(async () => !(await nodeView(page, portC.id)).exists, 10_000, 100, 'the deleted port gone from the page');
    expect(await page.$eval('#details', (box) => (box as any).innerText as string)).toContain('deleted');
    expect((await nodeView(page, portB.id)).exists).toBe(true);
    await page.browserContext().close();
  });
});
