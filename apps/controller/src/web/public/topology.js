// The live topology: every host, network, port, router, load balancer and firewall policy the
// token may read, as a cytoscape graph. Loaded kind by kind over HTTP; kept current by the API's
// graphql-ws subscriptions (resourceChanges → that kind is read again; resourceStatusChanges →
// the status is applied at once). Realization per host is a pie in each node: green APPLIED,
// amber PENDING (or a status for an older generation), red FAILED, grey no status yet.
'use strict';
(function () {
  const httpUrl = `${location.origin}/graphql`;
  const wsUrl = httpUrl.replace(/^http/, 'ws');
  const COLORS = { APPLIED: '#16a34a', PENDING: '#d97706', FAILED: '#dc2626', NONE: '#9ca3af' };
  const AGENT_COLORS = { CONNECTED: '#16a34a', DISCONNECTED: '#d97706', LOST: '#dc2626' };

  const STATUS = `hostId kind resourceId state reason generation updatedAt attributes { key value }
    observed {
      __typename
      ... on LoadBalancerObserved { operatingStatus listeners { port protocol members { name address port portId weight operatingStatus connections packets bytes lastCheck } } }
      ... on FirewallPolicyObserved { ports rules { priority direction action packets bytes } defaults { direction action packets bytes } }
    }`;
  const LABELS = 'labels { key value }';
  /** Per kind: the list field and what to read of each item (`status` where the kind has one). */
  const KINDS = {
    Host: { field: 'hosts', fields: `id name vtepAddress underlayMtu generation ${LABELS} agent { state connected appliedRevision agentVersion kernel lastSeen controller stateError plugins }` },
    Network: { field: 'networks', fields: `id name vni mtu generation ${LABELS} status { ${STATUS} }` },
    Subnet: { field: 'subnets', fields: `id name networkId cidr gatewayIp ipVersion generation ${LABELS}` },
    Port: {
      field: 'ports',
      fields: `id name hostId networkId macAddress netns portSecurity generation ${LABELS} fixedIps { ipAddress subnetId } allowedAddressPairs { ipAddress macAddress } status { ${STATUS} }`,
    },
    Router: {
      field: 'routers',
      fields: `id name hostId generation ${LABELS} externalNetworkId externalAddress snat interfaces { subnetId ipAddress } routes { destination nexthop } floatingIps { address portId } status { ${STATUS} }`,
    },
    LoadBalancer: {
      field: 'loadBalancers',
      fields: `id name hostId subnetId vipAddress generation ${LABELS} listeners { port protocol pool { algorithm members { name address port portId weight adminUp } healthMonitor { type intervalMs timeoutMs rise fall } } } status { ${STATUS} }`,
    },
    FirewallPolicy: {
      field: 'firewallPolicies',
      fields: `id name priority ingressDefault egressDefault generation ${LABELS} selector { portIds networkIds labels { key value } } rules { priority direction action protocol remoteCidrs remoteGroupIds ports { from to } } status { ${STATUS} }`,
    },
  };

  /** What the page knows: objects by kind, then by id; kinds the schema lacks (plugin not loaded). */
  const store = Object.fromEntries(Object.keys(KINDS).map((kind) => [kind, new Map()]));
  const missingKinds = new Set();
  let selected = null;
  let wsClient = null;
  let unsubscribe = [];
  let laidOut = false;

  const $ = (id) => document.getElementById(id);
  const showMessage = (text) => ($('message').textContent = text || '');

  async function gql(query, variables) {
    const authorization = NetloomToken.authorization();
    const response = await fetch(httpUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
      body: JSON.stringify({ query, variables }),
    });
    const body = await response.json();
    if (body.errors && body.errors.length) {
      const error = new Error(body.errors.map((e) => e.message).join('; '));
      error.code = body.errors[0].extensions && body.errors[0].extensions.code;
      throw error;
    }
    return body.data;
  }

  /**
   * Items per page, by kind: a status list costs more with every host, and the API refuses an
   * operation over its cost limit; then the page is halved until it fits, and kept for next time.
   */
  const pageSizes = {};
  const overCost = (error) => error.code === 'GRAPHQL_VALIDATION_FAILED' && /query cost/.test(error.message);

  async function loadKind(kind) {
    const { field, fields } = KINDS[kind];
    const items = new Map();
    let after = null;
    for (;;) {
      const first = (pageSizes[kind] ??= 500);
      let data;
      try {
        data = await gql(`query($first: Int, $after: String) { page: ${field}(first: $first, after: $after) { pageInfo { hasNextPage endCursor } edges { node { ${fields} } } } }`, { first, after });
      } catch (error) {
        if (overCost(error) && first > 1) {
          pageSizes[kind] = Math.floor(first / 2);
          continue;
        }
        // A kind whose plugin this controller does not run is not in the schema.
        if (error.code === 'GRAPHQL_VALIDATION_FAILED' && /Cannot query field/.test(error.message)) {
          missingKinds.add(kind);
          return;
        }
        throw error;
      }
      for (const edge of data.page.edges) items.set(edge.node.id, edge.node);
      if (!data.page.pageInfo.hasNextPage) break;
      after = data.page.pageInfo.endCursor;
    }
    store[kind] = items;
  }

  let loading = null;
  const pendingKinds = new Set();
  /** Reads `kinds` again (all when omitted), one load at a time; asks made meanwhile are merged into the next. */
  function reload(kinds = Object.keys(KINDS)) {
    for (const kind of kinds) if (KINDS[kind]) pendingKinds.add(kind);
    if (loading) return loading;
    loading = (async () => {
      await new Promise((done) => setTimeout(done, 50));
      while (pendingKinds.size) {
        const batch = [...pendingKinds];
        pendingKinds.clear();
        try {
          // Hosts first: the page size of the others depends on their number.
          if (batch.includes('Host')) await loadKind('Host');
          await Promise.all(batch.filter((k) => k !== 'Host' && !missingKinds.has(k)).map(loadKind));
          showMessage('');
        } catch (error) {
          showMessage(error.code === 'UNAUTHENTICATED' ? 'the API refused the token: enter a valid one above' : `could not load: ${error.message}`);
        }
        render();
      }
      loading = null;
    })();
    return loading;
  }

  // ---- realization state ----

  /** The state of one status row: a status for an older generation than the object's is not done yet. */
  const rowState = (object, status) => (status.state === 'APPLIED' && status.generation < object.generation ? 'PENDING' : status.state);

  /** Counts by state over the hosts that report on the object; its overall state (FAILED wins). */
  function realization(object) {
    const counts = { APPLIED: 0, PENDING: 0, FAILED: 0 };
    for (const status of object.status || []) counts[rowState(object, status)]++;
    const total = counts.APPLIED + counts.PENDING + counts.FAILED;
    const state = counts.FAILED ? 'FAILED' : counts.PENDING ? 'PENDING' : total ? 'APPLIED' : 'NONE';
    const share = (n) => (total ? (100 * n) / total : 0);
    return { state, total, pApplied: share(counts.APPLIED), pPending: share(counts.PENDING), pFailed: share(counts.FAILED), pNone: total ? 0 : 100 };
  }

  // ---- the graph ----

  const hostLabel = (host) => `${host.name}\n${host.vtepAddress}${host.agent ? ` · ${host.agent.state.toLowerCase()}` : ' · no agent'}`;
  const networkOf = (subnetId) => store.Subnet.get(subnetId)?.networkId;
  const hasLabels = (object, labels) => labels.every((l) => object.labels.some((o) => o.key === l.key && o.value === l.value));

  /** The ports a firewall policy covers: those listed, plus those matching its networks and labels. */
  function coveredPorts(policy) {
    const { portIds, networkIds, labels } = policy.selector;
    const ports = new Set(portIds);
    if (networkIds.length || labels.length) {
      for (const port of store.Port.values()) {
        if ((!networkIds.length || networkIds.includes(port.networkId)) && hasLabels(port, labels)) ports.add(port.id);
      }
    }
    return ports;
  }

  /** Every node and edge the store describes, with the data the style reads. */
  function elements() {
    const nodes = [];
    const edges = [];
    const known = (id) => Object.values(store).some((items) => items.has(id));
    const resource = (kind, object, label, parent) => {
      const r = realization(object);
      nodes.push({ group: 'nodes', data: { id: object.id, kind, label, parent: parent && store.Host.has(parent) ? parent : undefined, ...r }, classes: `${kind} ${r.state}` });
    };
    const edge = (source, target, kind, label = '') => {
      if (known(source) && known(target)) edges.push({ group: 'edges', data: { id: `${kind}:${source}:${target}`, source, target, kind, label }, classes: kind });
    };
    for (const host of store.Host.values()) {
      const state = host.agent ? host.agent.state : 'NONE';
      const data = { id: host.id, kind: 'Host', label: hostLabel(host), agentColor: AGENT_COLORS[state] || COLORS.NONE, state, pApplied: 0, pPending: 0, pFailed: 0, pNone: 0 };
      nodes.push({ group: 'nodes', data, classes: 'Host' });
    }
    for (const network of store.Network.values()) {
      const cidrs = [...store.Subnet.values()].filter((s) => s.networkId === network.id).map((s) => s.cidr);
      resource('Network', network, [network.name, `VNI ${network.vni}`, ...cidrs].join('\n'));
    }
    for (const port of store.Port.values()) {
      resource('Port', port, [port.name, ...port.fixedIps.map((ip) => ip.ipAddress)].join('\n'), port.hostId);
      edge(port.id, port.networkId, 'attachment');
    }
    for (const router of store.Router.values()) {
      resource('Router', router, `${router.name}\nrouter`, router.hostId);
      for (const leg of router.interfaces) edge(router.id, networkOf(leg.subnetId), 'leg', leg.ipAddress || '');
      if (router.externalNetworkId) edge(router.id, router.externalNetworkId, 'external', router.externalAddress || '');
    }
    for (const lb of store.LoadBalancer.values()) {
      resource('LoadBalancer', lb, `${lb.name}\nVIP ${lb.vipAddress || '…'}`, lb.hostId);
      edge(lb.id, networkOf(lb.subnetId), 'vip');
      for (const listener of lb.listeners) for (const member of listener.pool.members) if (member.portId) edge(lb.id, member.portId, 'member', `${listener.protocol.toLowerCase()}/${member.port}`);
    }
    for (const policy of store.FirewallPolicy.values()) {
      resource('FirewallPolicy', policy, `${policy.name}\nfirewall`);
      const { networkIds, labels, portIds } = policy.selector;
      // A whole network is drawn as one edge to it; ports picked otherwise, one edge each.
      if (!labels.length) for (const id of networkIds) edge(policy.id, id, 'policy');
      for (const id of !labels.length ? portIds : coveredPorts(policy)) edge(policy.id, id, 'policy');
    }
    return [...nodes, ...edges];
  }

  const cy = cytoscape({
    container: $('graph'),
    style: [
      {
        selector: 'node',
        style: {
          label: 'data(label)',
          'text-wrap': 'wrap',
          'font-size': 10,
          'text-valign': 'bottom',
          'text-margin-y': 4,
          'background-color': '#e5e7eb',
          'border-width': 2,
          'border-color': '#6b7280',
          'pie-size': '64%',
          'pie-1-background-color': COLORS.APPLIED,
          'pie-1-background-size': 'data(pApplied)',
          'pie-2-background-color': COLORS.PENDING,
          'pie-2-background-size': 'data(pPending)',
          'pie-3-background-color': COLORS.FAILED,
          'pie-3-background-size': 'data(pFailed)',
          'pie-4-background-color': COLORS.NONE,
          'pie-4-background-size': 'data(pNone)',
        },
      },
      { selector: 'node.Port', style: { shape: 'ellipse', width: 26, height: 26 } },
      { selector: 'node.Network', style: { shape: 'round-rectangle', width: 60, height: 30, 'border-color': '#2563eb', 'border-width': 3 } },
      { selector: 'node.Router', style: { shape: 'diamond', width: 44, height: 44, 'border-color': '#7c3aed', 'border-width': 3 } },
      { selector: 'node.LoadBalancer', style: { shape: 'round-triangle', width: 46, height: 40, 'border-color': '#0891b2', 'border-width': 3 } },
      { selector: 'node.FirewallPolicy', style: { shape: 'octagon', width: 38, height: 38, 'border-color': '#be185d', 'border-width': 3 } },
      {
        selector: 'node.Host',
        style: {
          shape: 'round-rectangle',
          'background-color': '#f8fafc',
          'background-opacity': 0.8,
          'border-color': 'data(agentColor)',
          'border-width': 3,
          'text-valign': 'top',
          'text-margin-y': -4,
          'font-size': 12,
          'font-weight': 'bold',
          padding: 18,
        },
      },
      // A failure stands out: a thick red border, a red halo, a red bold label.
      {
        selector: 'node.FAILED',
        style: { 'border-color': COLORS.FAILED, 'border-width': 6, 'underlay-color': COLORS.FAILED, 'underlay-opacity': 0.35, 'underlay-padding': 8, color: COLORS.FAILED, 'font-weight': 'bold' },
      },
      { selector: 'node:selected', style: { 'overlay-color': '#2563eb', 'overlay-opacity': 0.15, 'overlay-padding': 6 } },
      { selector: 'edge', style: { width: 2, 'line-color': '#94a3b8', 'curve-style': 'bezier', label: 'data(label)', 'font-size': 8, 'text-rotation': 'autorotate' } },
      { selector: 'edge.leg, edge.vip', style: { 'line-color': '#7c3aed' } },
      { selector: 'edge.external', style: { 'line-color': '#7c3aed', 'line-style': 'dashed' } },
      { selector: 'edge.member', style: { 'line-color': '#0891b2', 'line-style': 'dotted', 'target-arrow-shape': 'triangle', 'target-arrow-color': '#0891b2' } },
      { selector: 'edge.policy', style: { 'line-color': '#be185d', 'line-style': 'dotted', width: 1.5 } },
    ],
  });
  cy.on('tap', 'node', (event) => {
    selected = event.target.id();
    renderDetails();
  });
  cy.on('tap', (event) => {
    if (event.target === cy) {
      selected = null;
      renderDetails();
    }
  });

  /** Applies the store to the graph: new elements added (placed next to a neighbour), gone ones removed, the rest updated in place. */
  function render() {
    const wanted = elements();
    const ids = new Set(wanted.map((e) => e.data.id));
    let added = 0;
    cy.batch(() => {
      cy.elements()
        .filter((e) => !ids.has(e.id()))
        .remove();
      for (const element of wanted) {
        const existing = cy.getElementById(element.data.id);
        if (existing.nonempty() && existing.isNode() && (existing.data('parent') || undefined) !== element.data.parent) {
          existing.remove(); // moved to another host: added again under it
        } else if (existing.nonempty()) {
          const { id: _id, parent: _parent, source: _source, target: _target, ...data } = element.data;
          existing.data(data);
          existing.classes(element.classes);
          continue;
        }
        const near = element.group === 'nodes' && (cy.getElementById(element.data.parent || '').nonempty() ? cy.getElementById(element.data.parent) : null);
        const position = near ? { x: near.position('x') + Math.random() * 40 - 20, y: near.position('y') + Math.random() * 40 - 20 } : undefined;
        cy.add(position ? { ...element, position } : element);
        added++;
      }
    });
    if (added) {
      cy.layout({ name: 'cose', animate: false, randomize: !laidOut, fit: true, padding: 30, nodeRepulsion: () => 9000, idealEdgeLength: () => 70, nestingFactor: 0.9, componentSpacing: 60 }).run();
      laidOut = true;
    }
    const NAMES = { Host: 'hosts', Network: 'networks', Port: 'ports', Router: 'routers', LoadBalancer: 'load balancers', FirewallPolicy: 'firewall policies' };
    const count = (kind) => (missingKinds.has(kind) ? null : `${NAMES[kind]}: ${store[kind].size}`);
    const failed = cy.nodes('.FAILED').length;
    $('counts').textContent = `· ${Object.keys(NAMES).map(count).filter(Boolean).join(', ')}${failed ? ` · ${failed} FAILED` : ''}`;
    renderDetails();
    window.netloomTopology.renders++;
  }

  // ---- the side panel ----

  const find = (id) => {
    for (const [kind, items] of Object.entries(store)) if (items.has(id)) return { kind, object: items.get(id) };
    return null;
  };
  const hostName = (id) => store.Host.get(id)?.name || id;
  const nameOf = (id) => find(id)?.object.name || id;
  const el = (tag, props = {}, ...children) => {
    const node = Object.assign(document.createElement(tag), props);
    node.append(...children.filter((c) => c !== null && c !== undefined));
    return node;
  };
  const badge = (state) => el('span', { className: `badge ${state}`, textContent: state });
  const table = (rows) => el('table', {}, ...rows.filter((r) => r[1] !== undefined && r[1] !== null && r[1] !== '').map(([k, v]) => el('tr', {}, el('th', { textContent: k }), el('td', {}, v instanceof Node ? v : String(v)))));
  const grid = (head, rows) => el('table', {}, el('tr', {}, ...head.map((h) => el('th', { textContent: h }))), ...rows.map((r) => el('tr', {}, ...r.map((c) => el('td', {}, c instanceof Node ? c : String(c ?? ''))))));
  const labelsText = (labels) => labels.map((l) => `${l.key}=${l.value}`).join(', ');

  function specRows(kind, o) {
    switch (kind) {
      case 'Host':
        return [['VTEP', o.vtepAddress], ['underlay MTU', o.underlayMtu], ['agent', o.agent ? badge(o.agent.state) : 'never joined'], ['applied revision', o.agent?.appliedRevision], ['agent version', o.agent?.agentVersion], ['kernel', o.agent?.kernel], ['last seen', o.agent?.lastSeen], ['served by', o.agent?.controller], ['plugins', o.agent?.plugins.join(', ')], ['state dir error', o.agent?.stateError]];
      case 'Network':
        return [['VNI', o.vni], ['MTU', o.mtu ?? 'underlay − 50'], ['subnets', [...store.Subnet.values()].filter((s) => s.networkId === o.id).map((s) => `${s.cidr} (gw ${s.gatewayIp})`).join(', ')]];
      case 'Port':
        return [['host', hostName(o.hostId)], ['network', nameOf(o.networkId)], ['MAC', o.macAddress], ['addresses', o.fixedIps.map((ip) => ip.ipAddress).join(', ')], ['namespace', o.netns ?? 'made by the agent'], ['port security', o.portSecurity], ['allowed pairs', o.allowedAddressPairs.map((p) => p.ipAddress).join(', ')]];
      case 'Router':
        return [['host', o.hostId && hostName(o.hostId)], ['interfaces', o.interfaces.map((i) => `${nameOf(networkOf(i.subnetId))} ${i.ipAddress ?? '(gateway)'}`).join(', ')], ['external', o.externalNetworkId && `${nameOf(o.externalNetworkId)} ${o.externalAddress ?? ''}`], ['SNAT', o.snat], ['routes', o.routes.map((r) => `${r.destination} via ${r.nexthop}`).join(', ')], ['floating IPs', o.floatingIps.map((f) => `${f.address} → ${nameOf(f.portId)}`).join(', ')]];
      case 'LoadBalancer':
        return [['host', o.hostId && hostName(o.hostId)], ['VIP', o.vipAddress], ['network', nameOf(networkOf(o.subnetId))], ['listeners', o.listeners.map((l) => `${l.protocol} ${l.port} → ${l.pool.members.length} members (${l.pool.algorithm.toLowerCase()})`).join('; ')]];
      case 'FirewallPolicy':
        return [['priority', o.priority], ['defaults', `in ${o.ingressDefault ?? 'DROP'}, out ${o.egressDefault ?? 'ALLOW'}`], ['covers', `${coveredPorts(o).size} ports`], ['rules', o.rules.map((r) => `${r.priority}: ${r.direction} ${r.protocol ?? 'ANY'} ${r.ports.map((p) => (p.to ? `${p.from}-${p.to}` : p.from)).join(',')} ${r.action}`).join('; ')]];
      default:
        return [];
    }
  }

  function observedView(status) {
    const o = status.observed;
    if (!o) return null;
    if (o.__typename === 'LoadBalancerObserved') {
      const rows = o.listeners.flatMap((l) => l.members.map((m) => [`${l.protocol} ${l.port}`, m.name || `${m.address}:${m.port}`, m.operatingStatus, m.connections, m.packets, m.bytes]));
      return el('div', {}, el('div', { textContent: `${hostName(status.hostId)}: ${o.operatingStatus}` }), grid(['listener', 'member', 'status', 'conns', 'packets', 'bytes'], rows));
    }
    if (o.__typename === 'FirewallPolicyObserved') {
      const rows = [...o.rules.map((r) => [r.priority, r.direction, r.action, r.packets, r.bytes]), ...o.defaults.map((d) => ['default', d.direction, d.action, d.packets, d.bytes])];
      return el('div', {}, el('div', { textContent: `${hostName(status.hostId)}: ${o.ports} ports filtered` }), grid(['rule', 'direction', 'action', 'packets', 'bytes'], rows));
    }
    return el('pre', { textContent: JSON.stringify(o, null, 2) });
  }

  function renderDetails() {
    const box = $('details');
    if (!selected) {
      box.replaceChildren(el('p', { className: 'hint', textContent: 'Click an object for its details and its status on each host.' }));
      return;
    }
    const found = find(selected);
    if (!found) {
      box.replaceChildren(el('p', { className: 'hint', textContent: 'This object was deleted.' }));
      return;
    }
    const { kind, object } = found;
    const parts = [el('h2', { textContent: `${kind} ${object.name}` }), table([['id', object.id], ['generation', object.generation], ['labels', labelsText(object.labels)], ...specRows(kind, object)])];
    if (kind === 'Host') {
      const here = [...store.Port.values(), ...store.Router.values(), ...store.LoadBalancer.values()].filter((o) => o.hostId === object.id);
      parts.push(el('h3', { textContent: `On this host (${here.length})` }), grid(['name', 'state'], here.map((o) => [o.name, badge(realization(o).state)])));
    } else {
      const statuses = object.status || [];
      parts.push(el('h3', { textContent: 'Status per host' }));
      parts.push(
        statuses.length
          ? grid(
              ['host', 'state', 'gen', 'reason'],
              statuses.map((s) => [hostName(s.hostId), badge(rowState(object, s)), s.generation, el('span', { className: `reason ${s.state}`, textContent: s.reason || '' })]),
            )
          : el('p', { className: 'hint', textContent: 'No host has reported on it yet.' }),
      );
      const attributes = statuses.filter((s) => s.attributes.length);
      if (attributes.length) parts.push(el('h3', { textContent: 'Realized as' }), grid(['host', 'attributes'], attributes.map((s) => [hostName(s.hostId), labelsText(s.attributes)])));
      const observed = statuses.map(observedView).filter(Boolean);
      if (observed.length) parts.push(el('h3', { textContent: 'Observed' }), ...observed);
    }
    box.replaceChildren(...parts);
  }

  // ---- live updates ----

  /** A status reported by an agent: replaces that host's row of the object, or asks for its kind again. */
  function applyStatus(status) {
    const object = store[status.kind]?.get(status.resourceId);
    if (!object || !object.status) {
      void reload([status.kind]);
      return;
    }
    object.status = [...object.status.filter((s) => s.hostId !== status.hostId), status].sort((a, b) => (a.hostId < b.hostId ? -1 : 1));
    render();
  }

  function subscribe() {
    for (const stop of unsubscribe) stop();
    unsubscribe = [];
    // (dispose rejects when the socket it was opening was refused: nothing to do then.)
    if (wsClient) Promise.resolve(wsClient.dispose()).catch(() => undefined);
    wsClient = null;
    const live = $('live-state');
    if (!NetloomToken.get()) {
      live.textContent = 'not connected';
      live.className = 'down';
      return;
    }
    wsClient = graphqlWs.createClient({
      url: wsUrl,
      connectionParams: () => ({ authorization: NetloomToken.authorization() }),
      retryAttempts: Infinity,
      shouldRetry: () => true,
      on: {
        // Whatever happened while the socket was down is read again.
        connected: (_socket, _payload, wasRetry) => {
          live.textContent = 'live';
          live.className = 'live';
          if (wasRetry) void reload();
        },
        closed: (event) => {
          live.textContent = event && event.code === 4403 ? 'refused: check the token' : 'reconnecting…';
          live.className = 'down';
        },
      },
    });
    const sink = (next) => ({
      next: ({ data, errors }) => (errors ? showMessage(errors.map((e) => e.message).join('; ')) : next(data)),
      error: () => undefined,
      complete: () => undefined,
    });
    unsubscribe = [
      wsClient.subscribe({ query: 'subscription { resourceChanges { kind id operation revision } }' }, sink((data) => void reload([data.resourceChanges.kind === 'Subnet' ? 'Subnet' : data.resourceChanges.kind]))),
      wsClient.subscribe({ query: `subscription { resourceStatusChanges { ${STATUS} } }` }, sink((data) => applyStatus(data.resourceStatusChanges))),
    ];
  }

  function start() {
    for (const items of Object.values(store)) items.clear();
    missingKinds.clear();
    subscribe();
    if (NetloomToken.get()) void reload();
    else {
      render();
      showMessage('enter an API token above (a viewer token is enough)');
    }
  }

  window.netloomTopology = { cy, renders: 0, store, reload };
  NetloomToken.mount($('token-bar'), start);
  $('token-bar').append(el('nav', {}, el('a', { href: '/graphql', textContent: 'GraphQL IDE' })));
  // Agents connecting and leaving are not in the change feed: hosts are read again now and then.
  setInterval(() => NetloomToken.get() && void reload(['Host']), 10_000);
  start();
})();
