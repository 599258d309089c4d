import { release } from 'node:os';
import { join, resolve } from 'node:path';
import { ConfigError, createLogger, exitOnStartError } from '@netloom/cli';
import { CommandRunner, Linux, netlinkHelper, type NetlinkHelper } from '@netloom/linux';
import { COUNTERS_CAPABILITY, PROBE_CAPABILITY, PROTOCOL_VERSION, SPEC_PATCH_CAPABILITY } from '@netloom/protocol';
import { detectCapabilities } from './capabilities';
import { ControllerChannel } from './channel';
import { AGENT_VERSION, loadAgentConfig } from './config';
import { type Log, pinoLog } from './log';
import { AgentMetrics } from './metrics';
import { Names } from '@netloom/planner';
import { loadPlugins, loadSandboxedPlugins } from '@netloom/plugin-host';
import { readiness, startProbeServer } from './observability';
import { PluginHost } from './plugin-host';
import { CountersReporter } from './port-counters';
import { ProbeAnswerer } from './probe';
import { Reconciler } from './reconciler';
import { SentStatuses } from './sent-statuses';
import { StateStore } from './state-store';

async function main(): Promise<void> {
  const config = loadAgentConfig();
  let logger = createLogger({ name: 'netloom-agent', level: config.logLevel });
  const log = pinoLog(() => logger);
  for (const warning of config.warnings) log(warning, { level: 'warn' });
  const store = new StateStore(config.stateDir, { log });
  const capabilities = await detectCapabilities();
  const netlink = await kernelDoor(config.netlink, log);
  if (netlink) capabilities.push(NETLINK_CAPABILITY);
  // Built-in plugins are compiled into dist/plugins/<name>/src/index.js (this file is dist/apps/agent/src/main.js).
  const isolated = config.pluginIsolation === 'process';
  const found = loadPlugins({ specifiers: isolated ? [] : config.plugins, pluginDir: config.pluginDir, builtinDir: resolve(__dirname, '../../../plugins') });
  const sandboxed = isolated
    ? await loadSandboxedPlugins({
        specifiers: config.plugins,
        pluginDir: config.pluginDir,
        others: found.loaded.map((p) => p.plugin),
        // The sandbox's own deadline comes first, so the reason it gives reaches the status.
        sandbox: { user: config.pluginUser, callTimeoutMs: Math.max(500, config.pluginTimeoutMs - 500), log: (line, level) => log(line, { level: level ?? 'info' }) },
      })
    : { loaded: [], refused: [] };
  for (const { reason } of [...found.refused, ...sandboxed.refused]) log(reason, { level: 'warn' });
  for (const { plugin, specifier } of found.loaded) log(`plugin ${plugin.id} ${plugin.version} loaded from ${specifier}`);
  for (const p of sandboxed.loaded) log(`plugin ${p.plugin.id} ${p.plugin.version} loaded from ${p.specifier} in a sandbox process (pid ${p.pid ?? '?'}, user ${config.pluginUser})`);
  const plugins = [...found.loaded, ...sandboxed.loaded].map((p) => p.plugin);
  const pluginVersions = plugins.map((p) => ({ id: p.id, version: p.version }));
  let reconciler: Reconciler | undefined = undefined;
  let prober: ProbeAnswerer | undefined = undefined;
  let needFull = true;
  const sent = new SentStatuses();

  const channel = new ControllerChannel(store, {
    controllers: config.controllers,
    tls: { ca: config.ca, allowInsecureHttp: config.allowInsecureHttp },
    joinToken: config.joinToken,
    log,
    hello: () => ({
      protocol: PROTOCOL_VERSION,
      agentVersion: AGENT_VERSION,
      capabilities: [...capabilities, PROBE_CAPABILITY, COUNTERS_CAPABILITY, SPEC_PATCH_CAPABILITY],
      plugins: pluginVersions,
      kernel: release(),
      prefix: config.prefix,
      providerMappings: config.providerMappings,
    }),
    lastRevision: () => reconciler?.appliedRevision ?? 0,
    onDesired: (revision, resources) => reconciler?.setDesired(revision, resources),
    onConnected: () => {
      needFull = true;
      // The controller on the new channel asks for counters if it takes them.
      counters.stop();
    },
    onCountersRequest: () => counters.requested(),
    onHostDeleted: () => void hostDeleted(),
    onProbe: (message) => (prober ? prober.answer(message) : Promise.reject(new Error('the agent is starting'))),
    stateError: () => store.problem,
  });
  store.onProblem = () => channel.heartbeatNow();
  const counters = new CountersReporter({
    everyMs: config.countersMs,
    read: () => reconciler?.readPortCounters() ?? Promise.resolve(undefined),
    send: (message) => channel.send(message),
    log,
    onRead: (seconds) => metrics?.countersRead(seconds),
  });

  // Probes and metrics, when asked for: up before the join, which may wait long for a controller.
  const metricsAddress = config.cleanup ? undefined : config.metricsAddress;
  const metrics = metricsAddress === undefined ? undefined : new AgentMetrics({ connected: () => channel.connected, appliedRevision: () => store.readApplied().revision });
  /** The revision of this process's last pass: the data plane is kept while the controller is away. */
  let keptRevision: number | undefined = undefined;
  if (metrics && metricsAddress !== undefined) {
    const { url } = await startProbeServer({
      address: metricsAddress,
      registry: metrics.registry,
      readiness: () => readiness(channel.connected, keptRevision),
      log: (line) => log(line, { level: 'error' }),
    });
    log(`probes and metrics on ${url} (/healthz, /readyz, /metrics)`);
  }

  // What the plugins' host is given, whether the agent runs or cleans up.
  const pluginHostBase = (hostId: string) => ({
    agentPrefix: config.prefix,
    hostId,
    plugins,
    log,
    timeoutMs: config.pluginTimeoutMs,
    daemons: { allow: config.daemonAllow, dir: join(config.stateDir, 'daemons') },
  });

  if (config.cleanup) {
    const hostId = store.readCredential()?.hostId;
    if (!hostId) throw new ConfigError(`--cleanup: nothing to clean up: no host credential in ${config.stateDir} (this agent never joined)`);
    logger = logger.child({ hostId });
    const linux = new Linux();
    const pluginHost = new PluginHost({ ...pluginHostBase(hostId), linux, requestReconcile: () => undefined });
    const cleaner = new Reconciler(linux, new Names(config.prefix, hostId), store, { resyncMs: config.resyncMs, debounceMs: 50, log, plugins: pluginHost });
    await removeEverything(cleaner, store, pluginHost, log);
    log(`removed everything this agent made for host ${hostId} and forgot its credential`);
    return;
  }

  // The credential needs a controller once; keep trying while they are away.
  const hostId = await channel.ensureCredentialRetrying();
  logger = logger.child({ hostId });

  const linux = new Linux(new CommandRunner({ onCommand: metrics && ((entry) => metrics.commandRan(entry)) }), { netlink });
  const pluginHost = new PluginHost({
    ...pluginHostBase(hostId),
    linux,
    requestReconcile: () => reconciler?.requestPass(),
    onReconciled: metrics && ((plugin, seconds) => metrics.pluginReconciled(plugin, seconds)),
  });
  prober = new ProbeAnswerer(
    linux,
    { portNetns: (portId) => pluginHost.portPlace(portId)?.netns, applianceNetns: (pluginId, resourceId) => pluginHost.applianceNetns(pluginId, resourceId) },
    (line) => log(line, { level: 'warn' }),
  );
  reconciler = new Reconciler(linux, new Names(config.prefix, hostId), store, {
    resyncMs: config.resyncMs,
    debounceMs: 50,
    log,
    plugins: pluginHost,
    onPass: metrics && ((result, seconds) => metrics.passEnded(result, seconds)),
    providerMappings: new Map(config.providerMappings.map((m) => [m.physicalNetwork, m.interface])),
    vlanSupported: capabilities.includes('vlan'),
  });
  reconciler.onReport = ({ revision, statuses, mutatingCommands, ms, observeOnly }) => {
    if (!observeOnly) keptRevision = revision;
    metrics?.reported(statuses);
    // The whole status, `observed` included.
    const changed = sent.changes(statuses, needFull);
    // Observing between passes only reports changes (counters move often: no log line for them).
    if (observeOnly && !changed.length && !needFull) return;
    if (!observeOnly && (mutatingCommands > 0 || changed.length)) {
      log(`reconciled revision ${revision} in ${ms} ms: ${mutatingCommands} mutating command(s), ${changed.length} status change(s)`, {
        revision,
        ms,
        mutatingCommands,
        statusChanges: changed.length,
      });
    }
    for (const s of changed) {
      if (s.state === 'FAILED') log(`${s.kind} ${s.id} failed: ${s.reason ?? 'no reason given'}`, { level: 'warn', revision, kind: s.kind, resourceId: s.id });
      else log(`${s.kind} ${s.id} ${s.state}`, { level: 'debug', revision, kind: s.kind, resourceId: s.id });
    }
    channel.ack(revision, changed, needFull);
    needFull = false;
  };
  reconciler.start();
  // Plugins' observed state and ports' dropped-frame counters (nothing runs when neither is there).
  const observing = setInterval(() => void reconciler?.observeNow(), config.observeMs);
  // Keep the data plane as it was left: the stored desired state, until the controller answers.
  const stored = channel.stored;
  if (stored) reconciler.setDesired(stored.revision, stored.resources);
  channel.start();

  // The controller deleted this host: remove everything, forget the credential, stop.
  const hostDeleted = async (): Promise<void> => {
    log('the controller deleted this host: removing everything this agent made');
    clearInterval(observing);
    counters.stop();
    if (reconciler) await removeEverything(reconciler, store, pluginHost, log);
    log('removed everything; the credential is forgotten: stopping');
    process.exit(0);
  };

  const shutdown = async (signal: string): Promise<void> => {
    log(`${signal}: stopping (the data plane stays as it is)`);
    clearInterval(observing);
    counters.stop();
    channel.stop();
    reconciler?.stop();
    store.stop();
    await prober?.close();
    // The plugins' own timers, and the helpers their contexts started.
    await pluginHost.stop().catch((error: unknown) => log(`stopping plugins: ${error instanceof Error ? error.message : String(error)}`, { level: 'warn' }));
    process.exit(0);
  };
  process.once('SIGINT', () => void shutdown('SIGINT'));
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
}

/** The capability an agent announces when its batches go through the netlink helper. */
const NETLINK_CAPABILITY = 'netlink-helper';

/** The netlink helper, started, unless `--netlink off` or it cannot run here (then `ip -batch`); the choice is logged. */
async function kernelDoor(mode: 'auto' | 'on' | 'off', log: Log): Promise<NetlinkHelper | undefined> {
  if (mode === 'off') {
    log('kernel batches: ip -batch, one process per batch (--netlink off)');
    return undefined;
  }
  const opened = await netlinkHelper.open();
  if ('version' in opened) {
    log(
      `kernel batches: the netlink helper (pyroute2 ${opened.version}), ip -batch for what it does not send; nft scripts and listings: ${opened.nft ? 'libnftables in the helper' : 'the nft program (libnftables not found)'}`,
    );
    return netlinkHelper;
  }
  if (mode === 'on') throw new ConfigError(`--netlink on: the netlink helper cannot run: ${opened.reason} (install python3-pyroute2)`);
  log(`kernel batches: ip -batch, one process per batch (the netlink helper cannot run: ${opened.reason}; install python3-pyroute2)`, { level: 'warn' });
  return undefined;
}

/** One pass with nothing desired (the core and every plugin collect what they made), then the state dir forgets. */
async function removeEverything(reconciler: Reconciler, store: StateStore, pluginHost: PluginHost, log: Log): Promise<void> {
  reconciler.setDesired(reconciler.appliedRevision, []);
  await reconciler.reconcileNow();
  reconciler.stop();
  await pluginHost.stop().catch((error: unknown) => log(`stopping plugins: ${error instanceof Error ? error.message : String(error)}`, { level: 'warn' }));
  store.forget();
  store.stop();
}

main().catch((error: unknown) => exitOnStartError('netloom-agent', error, (e) => e instanceof ConfigError));
