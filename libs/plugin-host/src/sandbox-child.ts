import type { ApplyResult, ChangeSet, HostContext, LinkChanges, PluginDefinition } from '@netloom/plugin-sdk';
import { scopeFor } from '../../plugin-sdk/src/scoping';
import { shareHostSdk } from './sdk-share';
import { type ChangeOp, type FromChild, fromWire, type HostSnapshot, type RemoteMethod, type ToChild, toWire } from './sandbox-protocol';

/**
 * The sandbox: one plugin's agent half in a process of its own, started by the agent as an
 * unprivileged user (no capabilities: the kernel refuses what the plugin tries itself). Its host
 * context answers names, ports and bridges from the snapshot each call brings, and asks the agent
 * for everything else; `apply` records the change set and sends it as a list of operations.
 */

const send = (message: FromChild): void => {
  process.send?.(message);
};

let plugin: PluginDefinition | undefined;
let snapshot: HostSnapshot = { agentPrefix: 'nl', hostId: '', ports: {}, bridges: {} };
let nextId = 1;
const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();

const ask = (method: RemoteMethod, ...args: unknown[]): Promise<never> =>
  new Promise((resolve, reject) => {
    const id = nextId++;
    pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
    send({ t: 'req', id, method, args });
  });

/** A change set that writes down what the plugin builds, to be replayed on the agent's side. */
function recorder(ops: ChangeOp[]): ChangeSet {
  const links = (netns: string): LinkChanges => {
    const changes = {} as Record<string, (...args: unknown[]) => LinkChanges>;
    for (const method of ['vethAdd', 'linkSet', 'linkDel', 'ifbAdd', 'addrReplace', 'addrDel', 'routeReplace', 'routeDel']) {
      changes[method] = (...args: unknown[]) => {
        ops.push({ netns, method, args });
        return changes as unknown as LinkChanges;
      };
    }
    return changes as unknown as LinkChanges;
  };
  return {
    netnsAdd: (...args: unknown[]) => void ops.push({ netns: null, method: 'netnsAdd', args }),
    netnsDel: (...args: unknown[]) => void ops.push({ netns: null, method: 'netnsDel', args }),
    host: links(''),
    in: (netns: string) => links(netns),
  };
}

function context(pluginId: string): HostContext {
  const scope = () => scopeFor(snapshot.agentPrefix, snapshot.hostId, pluginId);
  return {
    get hostId() {
      return snapshot.hostId;
    },
    pluginId,
    get names() {
      const s = scope();
      return { nftTable: s.nftTable, netnsPrefix: s.netnsPrefix, linkPrefix: s.linkPrefix };
    },
    netnsName: (id) => scope().netnsName(id),
    linkName: (id, role) => scope().linkName(id, role),
    networkBridge: (networkId) => snapshot.bridges[networkId],
    port: (portId) => snapshot.ports[portId],
    portIds: () => Object.keys(snapshot.ports),
    ownedNetns: () => ask('ownedNetns'),
    ownedLinks: () => ask('ownedLinks'),
    links: (netns) => ask('links', netns),
    addresses: (netns, dev) => ask('addresses', netns, dev),
    routes: (netns, family) => ask('routes', netns, family),
    apply: (build): Promise<ApplyResult> => {
      const ops: ChangeOp[] = [];
      build(recorder(ops));
      return ask('apply', ops);
    },
    sysctl: (netns, key, value) => ask('sysctl', netns, key, value),
    sysctlValue: (key, netns) => ask('sysctlValue', key, netns),
    nftTable: (body, netns, opts) => ask('nftTable', body, netns, opts),
    nftList: (netns) => ask('nftList', netns),
    nftCounters: (netns, opts) => ask('nftCounters', netns, opts),
    probe: (netns, check) => ask('probe', netns, check),
    daemons: (specs) => ask('daemons', specs),
    daemonFile: (name, file) => ask('daemonFile', name, file),
    tc: (devices) => ask('tc', devices),
    tcStats: (dev, netns) => ask('tcStats', dev, netns),
    bridgeRouting: (wanted) => ask('bridgeRouting', wanted),
    announce: (netns, dev) => ask('announce', netns, dev),
    requestReconcile: (reason) => send({ t: 'requestReconcile', reason }),
    log: (line) => send({ t: 'log', line }),
  };
}

let host: HostContext | undefined;

process.on('message', (message: ToChild) => {
  switch (message.t) {
    case 'init': {
      try {
        shareHostSdk();
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const mod = require(message.pluginPath) as { default?: PluginDefinition; plugin?: PluginDefinition };
        plugin = mod.default ?? mod.plugin;
        if (!plugin || typeof plugin !== 'object') throw new Error('it exports no plugin (as default or plugin)');
        const p = plugin;
        host = context(String(p.id));
        send({
          t: 'ready',
          meta: { id: String(p.id), version: String(p.version), sdk: Number(p.sdk), kinds: Object.keys(p.kinds ?? {}), observes: typeof p.agent?.observe === 'function', stops: typeof p.agent?.stop === 'function' },
        });
      } catch (error) {
        send({ t: 'result', id: 0, ok: false, error: toWire(error) });
        process.exitCode = 1;
        process.disconnect?.();
      }
      return;
    }
    case 'call': {
      snapshot = message.snapshot;
      const agent = plugin!.agent;
      const run = (): Promise<unknown> => {
        if (!agent) return Promise.reject(new Error(`plugin ${plugin!.id} has no agent half`));
        if (message.what === 'reconcile') return agent.reconcile(message.desired, host!);
        if (message.what === 'observe') return agent.observe ? agent.observe(message.desired, host!) : Promise.resolve({});
        return Promise.resolve(agent.stop?.());
      };
      run().then(
        (value) => send({ t: 'result', id: message.id, ok: true, value }),
        (error: unknown) => send({ t: 'result', id: message.id, ok: false, error: toWire(error) }),
      );
      return;
    }
    case 'reply': {
      const waiting = pending.get(message.id);
      pending.delete(message.id);
      if (message.ok) waiting?.resolve(message.value);
      else waiting?.reject(fromWire(message.error));
      return;
    }
  }
});
// The agent gone: nothing left to do.
process.on('disconnect', () => process.exit(0));
