import { readFileSync, watch } from 'node:fs';
import { access, mkdir, readdir, rename, writeFile } from 'node:fs/promises';
import { LinuxBatchAbortedError, parseBatchErrors, wholeBatchFailed } from './batch-result';
import type { BridgeBatch } from './bridge-batch';
import type { IpBatch } from './ip-batch';
import { BPF_OBJECT_DIR, type TcBatch } from './tc-batch';
import { vlanProgramObject, type VlanProgram } from './bpf-vlan';
import { parseTcClasses, parseTcFilters, parseTcQdiscs } from './tc-parse';
import { monitorLinks, monitorNft, SharedNftEvents, type LinkMonitor } from './monitor';
import { NETLINK_PYTHON, NetlinkHelper } from './netlink';
import { assertIfName, assertIp, assertNetnsName, assertNftName, assertRouteTable, assertSysctlKey, assertSysctlValue, ipFamily, LinuxInputError, sysctlPath } from './names';
import { parseJsonArray, toAddrInfo, toFdbEntry, toLinkInfo, toLinkStats, toNeighEntry, toNftCounters, toNftTable, toRouteInfo, toRuleInfo } from './parse';
import { CommandRunner, LinuxCommandError, type LinuxCommand, type StreamHandle } from './runner';
import type { AddrInfo, BatchResult, Family, FdbEntry, LinkEvent, LinkInfo, LinkStats, NeighEntry, NftCounter, NftFamily, NftTableView, NftTransaction, RouteInfo, RuleInfo, TcClassView, TcFilterView, TcQdiscView } from './types';

/** Where `ip netns add` keeps its namespaces. */
export const NETNS_DIR = '/run/netns';

const NFT_FAMILIES: readonly NftFamily[] = ['inet', 'ip', 'ip6', 'arp', 'bridge', 'netdev'];

/** Default number of batches {@link Linux.applyIpBatches} runs at once. */
export const DEFAULT_BATCH_CONCURRENCY = 8;

/**
 * The one door to the kernel. Each method is one command (or one batch, or one file read/write)
 * and decides nothing: no "ensure", no retries, no diffing. Reads run one process each.
 */
export class Linux {
  /** Runs (and logs) every command of this instance. */
  readonly runner: CommandRunner;
  /** Runs `ip` batches whose every line it can send (see {@link applyIpBatch}); none: `ip -batch` only. */
  readonly netlink: NetlinkHelper | undefined;

  /** @param options.netlink a helper already {@link NetlinkHelper.open | opened} and able to run. */
  constructor(runner?: CommandRunner, options: { netlink?: NetlinkHelper } = {}) {
    this.runner = runner ?? new CommandRunner();
    this.netlink = options.netlink;
    this.nftEvents = new SharedNftEvents(this.runner);
  }

  /** All links: `ip [-n NS] -json -details link show`. */
  async links(netns?: string): Promise<LinkInfo[]> {
    const { stdout } = await this.read('ip', [...nsArgs(netns), '-json', '-details', 'link', 'show']);
    return parseJsonArray(stdout, 'ip link').map(toLinkInfo);
  }

  /**
   * Every link's counters in one netlink dump: `ip [-n NS] -s -json link show` (links without
   * counters are left out).
   */
  async linkStats(netns?: string): Promise<LinkStats[]> {
    const { stdout } = await this.read('ip', [...nsArgs(netns), '-s', '-json', 'link', 'show']);
    return parseJsonArray(stdout, 'ip -s link').flatMap((e) => toLinkStats(e) ?? []);
  }

  /**
   * One link, or null when it does not exist: `ip [-n NS] -json -details link show dev NAME`;
   * with a netlink helper, its one request instead (logged as `netlink [-n NS] link show dev
   * NAME`), and `ip` when the helper cannot answer.
   */
  async link(name: string, netns?: string): Promise<LinkInfo | null> {
    if (this.netlink) {
      const args = [...nsArgs(netns), 'link', 'show', 'dev', assertIfName(name)];
      const started = performance.now();
      const answer = await this.netlink.readLink(netns, name);
      this.runner.record({ command: 'netlink', args, mutating: false, ms: performance.now() - started, exitCode: 'abort' in answer ? -1 : 0 });
      if (!('abort' in answer)) return answer.link === null ? null : toLinkInfo(answer.link);
    }
    const { stdout, exitCode } = await this.runner.run('ip', [...nsArgs(netns), '-json', '-details', 'link', 'show', 'dev', assertIfName(name)], {
      mutating: false,
      reject: false,
    });
    return exitCode === 0 ? (parseJsonArray(stdout, 'ip link').map(toLinkInfo)[0] ?? null) : null;
  }

  /** Addresses per interface: `ip [-n NS] -json addr show [dev D]` (throws if `dev` does not exist). */
  async addresses(netns?: string, dev?: string): Promise<AddrInfo[]> {
    const devArgs = dev === undefined ? [] : ['dev', assertIfName(dev)];
    const { stdout } = await this.read('ip', [...nsArgs(netns), '-json', 'addr', 'show', ...devArgs]);
    return parseJsonArray(stdout, 'ip addr').map(toAddrInfo);
  }

  /**
   * Routes of the main table, or of `table` (a routing table id): `ip [-n NS] [-4|-6] -json route
   * show [table T]`. Without a family `ip` lists IPv4.
   */
  async routes(netns?: string, family?: Family, table?: number): Promise<RouteInfo[]> {
    if (family !== undefined && family !== 4 && family !== 6) {
      throw new LinuxInputError(`invalid family ${JSON.stringify(family)}`, 'family');
    }
    const familyArgs = family === undefined ? [] : [`-${family}`];
    const tableArgs = table === undefined ? [] : ['table', String(assertRouteTable(table))];
    const { stdout } = await this.read('ip', [...nsArgs(netns), ...familyArgs, '-json', 'route', 'show', ...tableArgs]);
    return parseJsonArray(stdout, 'ip route').map((e) => toRouteInfo(e, family ?? 4));
  }

  /** The IPv4 policy-routing rules: `ip [-n NS] -4 -json rule show`. */
  async rules(netns?: string): Promise<RuleInfo[]> {
    const { stdout } = await this.read('ip', [...nsArgs(netns), '-4', '-json', 'rule', 'show']);
    return parseJsonArray(stdout, 'ip rule').map(toRuleInfo);
  }

  /** Names of the namespaces in /run/netns, sorted (a missing directory means none). No process. */
  async netnsList(): Promise<string[]> {
    try {
      return (await readdir(NETNS_DIR)).sort();
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return [];
      throw err;
    }
  }

  /**
   * Names in /run/netns with a network namespace mounted on them, as this process's mount
   * namespace sees them (`/proc/self/mountinfo`, type nsfs). No process. A name {@link netnsList}
   * has and this one lacks is a dead file: nothing is mounted there (its mount went with another
   * mount namespace, or was unmounted), `ip -n NAME` fails, and `ip netns add NAME` too until
   * `ip netns del NAME` removes the file.
   */
  netnsMounted(): Promise<Set<string>> {
    // Read at once (the kernel makes it in a millisecond or two; read in chunks through the
    // thread pool it took 6–9 ms of a busy agent's pass), then one pattern over the whole text:
    // a host with 1000 namespaces has as many lines, read on every pass. A failed read rejects.
    return new Promise((resolve) => {
      const names = new Set<string>();
      for (const [, field] of readFileSync('/proc/self/mountinfo', 'utf8').matchAll(NSFS_MOUNT)) {
        const mountPoint = unescapeMountinfo(field);
        if (mountPoint.startsWith(`${NETNS_DIR}/`) && !mountPoint.slice(NETNS_DIR.length + 1).includes('/')) {
          names.add(mountPoint.slice(NETNS_DIR.length + 1));
        }
      }
      resolve(names);
    });
  }

  /**
   * Calls `onChange` with the name of each entry of /run/netns made or removed (inotify through
   * `fs.watch`, no process; the directory is made if missing). Names are hints: read the
   * directory to know. `close()` ends the watch.
   */
  async watchNetns(onChange: (name: string | undefined) => void): Promise<{ close(): void }> {
    await mkdir(NETNS_DIR, { recursive: true });
    const watcher = watch(NETNS_DIR, { persistent: false }, (_event, name) => onChange(typeof name === 'string' ? name : undefined));
    // An error (e.g. the directory went) ends the watch; the periodic resync still catches drift.
    watcher.on('error', () => watcher.close());
    return { close: () => watcher.close() };
  }

  /** Whether /run/netns/NAME exists. No process. */
  async netnsExists(name: string): Promise<boolean> {
    try {
      await access(`${NETNS_DIR}/${assertNetnsName(name)}`);
      return true;
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return false;
      throw err;
    }
  }

  /**
   * Runs one batch with `ip [-n NS] -force -batch -` (stdin). With `-force` ip runs every line;
   * each failure is mapped to its line number and key. An empty batch runs nothing. Throws
   * {@link LinuxBatchAbortedError} if ip stopped early (unparsable line, missing namespace).
   * With a netlink helper, a batch whose every line it can send goes to it instead: the same
   * requests, results and errors, no process (logged as `netlink [-n NS] -batch`).
   */
  async applyIpBatch(batch: IpBatch): Promise<BatchResult> {
    if (this.netlink && batch.length > 0 && NetlinkHelper.accepts(batch.lines)) return this.applyNetlink(this.netlink, batch);
    return this.applyBatch('ip', batch);
  }

  private async applyNetlink(helper: NetlinkHelper, batch: IpBatch): Promise<BatchResult> {
    const args = [...(batch.netns === undefined ? [] : ['-n', assertNetnsName(batch.netns)]), '-batch'];
    const started = performance.now();
    const answer = await helper.apply(batch.netns, batch.lines.map((l) => l.op!));
    const exitCode = 'abort' in answer ? -1 : answer.failed.length ? 1 : 0;
    this.runner.record({ command: 'netlink', args, mutating: true, ms: performance.now() - started, exitCode });
    if ('abort' in answer) throw new LinuxBatchAbortedError('netlink', args, exitCode, answer.abort, []);
    const failed = answer.failed.map(({ line, error }) => {
      const source = batch.lines[line - 1];
      return { line, text: source?.text ?? '', ...(source?.key !== undefined ? { key: source.key } : {}), error };
    });
    return { ok: failed.length === 0, failed };
  }

  /**
   * Several batches, `concurrency` at a time (default 8); one result per batch, in input order.
   * A batch that could not run to its end (e.g. its namespace is missing) does not stop the
   * others: its result lists every line as failed, since which of them ran is unknown.
   */
  async applyIpBatches(batches: readonly IpBatch[], concurrency = DEFAULT_BATCH_CONCURRENCY): Promise<BatchResult[]> {
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new LinuxInputError(`invalid concurrency ${concurrency}`, 'concurrency');
    }
    const results: BatchResult[] = new Array<BatchResult>(batches.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < batches.length) {
        const index = next++;
        const batch = batches[index];
        try {
          results[index] = await this.applyIpBatch(batch);
        } catch (error) {
          results[index] = wholeBatchFailed(batch.lines, error);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, batches.length) }, worker));
    return results;
  }

  /** Runs fdb lines with `bridge [-n NS] -force -batch -`; results as in {@link applyIpBatch}. */
  async applyBridgeBatch(batch: BridgeBatch): Promise<BatchResult> {
    return this.applyBatch('bridge', batch);
  }

  /**
   * Runs traffic-control lines with `tc -force -batch -` (in a namespace through `nsenter --net`),
   * one process, logged as mutating; failures mapped to their lines and keys as in
   * {@link applyIpBatch} (tc reports them the same way). An empty batch runs nothing.
   */
  async applyTcBatch(batch: TcBatch): Promise<BatchResult> {
    if (batch.programs.size > 0) await writeBpfObjects(batch.programs);
    return this.applyBatch('tc', batch);
  }

  /**
   * The qdiscs of one device, or of every device when `dev` is undefined, with their counters:
   * `tc [-n NS] -s -j qdisc show [dev D]` (throws if `dev` does not exist).
   */
  async tcQdiscs(netns?: string, dev?: string): Promise<TcQdiscView[]> {
    const devArgs = dev === undefined ? [] : ['dev', assertIfName(dev)];
    const { stdout } = await this.read('tc', [...nsArgs(netns), '-s', '-j', 'qdisc', 'show', ...devArgs]);
    return parseTcQdiscs(stdout);
  }

  /** The filters on a clsact hook of a device (none without clsact): `tc [-n NS] -j filter show dev D ingress|egress`. */
  async tcFilters(netns: string | undefined, dev: string, hook: 'ingress' | 'egress'): Promise<TcFilterView[]> {
    const { stdout } = await this.read('tc', [...nsArgs(netns), '-j', 'filter', 'show', 'dev', assertIfName(dev), hook]);
    return parseTcFilters(stdout);
  }

  /**
   * A device's qdiscs and classes with their counters (bytes, packets, drops, overlimits,
   * backlog): `tc [-n NS] -s -j qdisc show dev D` and `tc [-n NS] -s -j class show dev D`.
   */
  async tcShow(netns: string | undefined, dev: string): Promise<{ qdiscs: TcQdiscView[]; classes: TcClassView[] }> {
    const devArgs = ['dev', assertIfName(dev)];
    const [qdiscs, classes] = await Promise.all([
      this.tcQdiscs(netns, dev),
      this.read('tc', [...nsArgs(netns), '-s', '-j', 'class', 'show', ...devArgs]).then(({ stdout }) => parseTcClasses(stdout)),
    ]);
    return { qdiscs, classes };
  }

  /** Neighbour (ARP/ND) entries: `ip [-n NS] -json neigh show [dev D]`. */
  async neighbours(netns?: string, dev?: string): Promise<NeighEntry[]> {
    const devArgs = dev === undefined ? [] : ['dev', assertIfName(dev)];
    const { stdout } = await this.read('ip', [...nsArgs(netns), '-json', 'neigh', 'show', ...devArgs]);
    return parseJsonArray(stdout, 'ip neigh').map((e) => toNeighEntry(e, dev));
  }

  /** Forwarding database: `bridge [-n NS] -json fdb show [dev D]`. */
  async bridgeFdb(netns?: string, dev?: string): Promise<FdbEntry[]> {
    const devArgs = dev === undefined ? [] : ['dev', assertIfName(dev)];
    const { stdout } = await this.read('bridge', [...nsArgs(netns), '-json', 'fdb', 'show', ...devArgs]);
    return parseJsonArray(stdout, 'bridge fdb').map((e) => toFdbEntry(e, dev));
  }

  /**
   * Applies an nftables script atomically: `nft -f -` (in a namespace: `ip netns exec NS nft -f -`).
   * Throws {@link LinuxCommandError} carrying nft's stderr; on failure nothing of the script applies.
   * `onSpawn` hears the pid that commits it (`ip netns exec` becomes nft), as `nft monitor` names it.
   */
  async nftApply(script: string, netns?: string, onSpawn?: (pid: number) => void): Promise<void> {
    if (this.netlink?.nftReady) {
      await this.nftInProcess(netns, ['-f', '-'], script, true, onSpawn);
      return;
    }
    await this.runner.run(...nftCommand(netns, ['-f', '-']), { input: script, mutating: true, onSpawn });
  }

  /** The whole ruleset as nft's JSON: `nft -j list ruleset` (in a namespace via `ip netns exec`). */
  async nftRuleset(netns?: string): Promise<unknown> {
    const args = ['-j', 'list', 'ruleset'];
    const { stdout } = this.netlink?.nftReady ? await this.nftInProcess(netns, args, 'list ruleset', false) : await this.runner.run(...nftCommand(netns, args), { mutating: false });
    return JSON.parse(stdout) as unknown;
  }

  /**
   * One nft command or script through the netlink helper's libnftables (what the nft program
   * runs, in the namespace, without a process): logged as `nft [-n NS] ARGS` like the program, and
   * throwing {@link LinuxCommandError} with nft's errors as the program would.
   */
  private async nftInProcess(
    netns: string | undefined,
    args: string[],
    script: string,
    mutating: boolean,
    onPid?: (pid: number) => void,
    reject = true,
  ): Promise<{ stdout: string; stderr: string; exitCode: number }> {
    const logged = [...nsArgs(netns), ...args];
    const started = performance.now();
    const answer = await this.netlink!.nft(netns, script, args[0] === '-j', onPid);
    const exitCode = 'abort' in answer ? -1 : answer.code;
    this.runner.record({ command: 'nft', args: logged, mutating, ms: performance.now() - started, exitCode, inProcess: true });
    if ('abort' in answer) throw new LinuxCommandError('nft', logged, exitCode, answer.abort);
    if (answer.code !== 0 && reject) throw new LinuxCommandError('nft', logged, answer.code, answer.stderr);
    return { stdout: answer.stdout, stderr: answer.stderr, exitCode };
  }

  /**
   * The named counters of one table: `nft -j list counters table FAMILY NAME` (in a namespace via
   * `ip netns exec`); null when the table does not exist.
   */
  async nftCounters(family: NftFamily, table: string, netns?: string): Promise<NftCounter[] | null> {
    const stdout = await this.nftListTable(['counters', 'table'], family, table, netns);
    return stdout === null ? null : toNftCounters(stdout, family, table);
  }

  /**
   * One table's chains, rules (with comments), verdict maps and named counters: `nft -j list
   * table FAMILY NAME` (in a namespace via `ip netns exec`); null when the table does not exist.
   */
  async nftTable(family: NftFamily, table: string, netns?: string): Promise<NftTableView | null> {
    const stdout = await this.nftListTable(['table'], family, table, netns);
    return stdout === null ? null : toNftTable(stdout, family, table);
  }

  private async nftListTable(what: string[], family: NftFamily, table: string, netns?: string): Promise<string | null> {
    if (!NFT_FAMILIES.includes(family)) throw new LinuxInputError(`invalid nft family ${JSON.stringify(family)}`, 'nft family');
    const listArgs = ['-j', 'list', ...what, family, assertNftName(table)];
    const [command, args] = nftCommand(netns, listArgs);
    const { stdout, stderr, exitCode } = this.netlink?.nftReady
      ? await this.nftInProcess(netns, listArgs, listArgs.slice(1).join(' '), false, undefined, false)
      : await this.runner.run(command, args, { mutating: false, reject: false });
    if (exitCode === 0) return stdout;
    // nft's own error for a missing table (a missing namespace fails in `ip netns exec`, worded otherwise).
    if (/^Error: No such file or directory/m.test(stderr)) return null;
    throw new LinuxCommandError(command, args, exitCode, stderr);
  }

  /**
   * One echo request from a namespace: `ip netns exec NS ping -n -c 1 -W SECONDS ADDRESS`. Resolves
   * whether a reply came, with ping's last line (its summary) as the detail.
   */
  async ping(netns: string, address: string, timeoutSeconds: number): Promise<{ ok: boolean; detail: string; ms: number }> {
    assertIp(address);
    if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 1 || timeoutSeconds > 10) throw new LinuxInputError(`invalid ping timeout ${timeoutSeconds}: 1-10 s`, 'ping timeout');
    const started = performance.now();
    const { stdout, stderr, exitCode } = await this.runner.run(
      'ip',
      ['netns', 'exec', assertNetnsName(netns), 'ping', '-n', '-c', '1', '-W', String(timeoutSeconds), address],
      { mutating: false, reject: false },
    );
    const lines = `${stdout}\n${stderr}`.split('\n').map((l) => l.trim()).filter(Boolean);
    const summary = lines.find((l) => /packets transmitted/.test(l)) ?? lines.at(-1) ?? `exit ${exitCode}`;
    return { ok: exitCode === 0, detail: summary, ms: Math.round(performance.now() - started) };
  }

  /**
   * Tells a device's network that `addresses` are now at its MAC: for each IPv4 address one
   * gratuitous ARP request out of `dev` (Ethernet broadcast, sender IP = target IP = the address,
   * sender MAC = the device's, target MAC zero), which makes a neighbour that has an entry for the
   * address take the new MAC even with `arp_accept` 0. One process: `nsenter [--net=/run/netns/NS]
   * -- python3 -c PROGRAM DEV ADDRESS…` (an AF_PACKET socket bound to the device, its MAC read
   * from that socket), logged as mutating. IPv6 addresses are skipped (no unsolicited neighbour
   * advertisement is sent); with no IPv4 address nothing runs. With a netlink helper, its one
   * request instead (the same frames, no process: a Python process starts in 50–100 ms on a busy
   * machine; logged as `netlink [-n NS] announce DEV ADDRESS…`). Throws {@link LinuxCommandError}
   * when the device is missing, down or has no Ethernet address.
   */
  async announce(netns: string | undefined, dev: string, addresses: readonly string[]): Promise<void> {
    assertIfName(dev);
    const given: unknown = addresses;
    if (!Array.isArray(given)) throw new LinuxInputError('announce takes a list of addresses', 'ip');
    const nsArg = netns === undefined ? [] : [`--net=${NETNS_DIR}/${assertNetnsName(netns)}`];
    const v4 = addresses.filter((a) => ipFamily(a) === 4);
    if (v4.length === 0) return;
    if (this.netlink) {
      const helper = this.netlink;
      await this.helped([...nsArgs(netns), 'announce', dev, ...v4], true, () => helper.announce(netns, dev, v4));
      return;
    }
    await this.runner.run('nsenter', [...nsArg, '--', NETLINK_PYTHON, '-c', GARP_PROGRAM, dev, ...v4], { mutating: true });
  }

  /**
   * One request to the netlink helper, logged as `netlink ARGS…`: its answer, or a
   * {@link LinuxCommandError} when the helper said why it could not do it (`error`, `abort`).
   */
  private async helped<A extends object>(args: string[], mutating: boolean, request: () => Promise<A>): Promise<A> {
    const started = performance.now();
    const answer = await request();
    const failed = 'error' in answer ? String(answer.error) : 'abort' in answer ? String(answer.abort) : undefined;
    this.runner.record({ command: 'netlink', args, mutating, ms: performance.now() - started, exitCode: failed === undefined ? 0 : 1 });
    if (failed !== undefined) throw new LinuxCommandError('netlink', args, 1, failed);
    return answer;
  }

  /**
   * Starts a long-lived Node.js program inside a namespace: `ip netns exec NS <this node> -e
   * PROGRAM`, the program's stdout lines to `onLine`, lines written with {@link StreamHandle.write}
   * to its stdin. It dies with this process (see {@link CommandRunner.stream}); it should also exit
   * when its stdin closes.
   */
  nodeProgram(netns: string, program: string, onLine: (line: string) => void, onExit?: (error: LinuxCommandError) => void): StreamHandle {
    return this.runner.stream('ip', ['netns', 'exec', assertNetnsName(netns), process.execPath, '-e', program], onLine, onExit, { stdin: true });
  }

  /**
   * Reads a sysctl: its value trimmed, or null where the kernel has no such key (a module not
   * loaded, e.g. `net.bridge.*` without br_netfilter). In the agent's namespace: reads
   * /proc/sys/... directly; in a namespace: the netlink helper's read there (logged as `netlink
   * -n NS sysctl -n key`), else `ip netns exec NS sysctl -n key`.
   */
  async readSysctl(key: string, netns?: string): Promise<string | null> {
    if (netns === undefined) {
      // A /proc/sys file: read in place (microseconds), not through the thread pool.
      try {
        return readFileSync(sysctlPath(key), 'utf8').trim();
      } catch {
        return null;
      }
    }
    assertSysctlKey(key);
    if (this.netlink) {
      const helper = this.netlink;
      const answer = await this.helped([...nsArgs(netns), 'sysctl', '-n', key], false, () => helper.sysctl(netns, sysctlPath(key), null)).catch(() => null);
      return answer && 'value' in answer ? answer.value : null;
    }
    const r = await this.runner.run('ip', ['netns', 'exec', assertNetnsName(netns), 'sysctl', '-n', key], { mutating: false, reject: false });
    return r.exitCode === 0 ? r.stdout.trim() : null;
  }

  /**
   * Sets a sysctl. In the agent's namespace: writes /proc/sys/... directly (no process, still
   * logged; a failed write throws {@link LinuxCommandError} with exit code 1); in a namespace:
   * the netlink helper's write there when there is one (logged as `netlink -n NS sysctl -qw
   * key=value`; a process per namespace cost 10–17 ms on a busy machine), else `ip netns exec NS
   * sysctl -qw key=value`. Reads alike ({@link readSysctl}).
   */
  async sysctl(key: string, value: string, netns?: string): Promise<void> {
    assertSysctlKey(key);
    assertSysctlValue(value);
    if (netns === undefined) {
      const args = ['-qw', `${key}=${value}`];
      const started = performance.now();
      let failure: string | undefined;
      await writeFile(sysctlPath(key), value).catch((err: unknown) => {
        failure = err instanceof Object && 'message' in err ? String(err.message) : String(err);
      });
      const ms = performance.now() - started;
      this.runner.record({ command: 'sysctl', args, mutating: true, ms, exitCode: failure ? 1 : 0, inProcess: true });
      if (failure !== undefined) throw new LinuxCommandError('sysctl', args, 1, failure);
      return;
    }
    assertNetnsName(netns);
    if (this.netlink) {
      const helper = this.netlink;
      await this.helped([...nsArgs(netns), 'sysctl', '-qw', `${key}=${value}`], true, () => helper.sysctl(netns, sysctlPath(key), value));
      return;
    }
    await this.runner.run('ip', ['netns', 'exec', netns, 'sysctl', '-qw', `${key}=${value}`], { mutating: true });
  }

  /**
   * Streams link events: spawns `ip [-n NS] -o monitor link` and calls `onEvent` with the
   * interface name parsed from each line (best effort) and the raw line. `stop()` kills exactly
   * that child; `onExit` reports an unexpected end. Restarts are the caller's business.
   */
  monitorLinks(
    onEvent: (e: LinkEvent) => void,
    netns?: string,
    onExit?: (error: LinuxCommandError) => void,
  ): LinkMonitor {
    return monitorLinks(this.runner, onEvent, netns, onExit);
  }

  /**
   * Streams committed nftables transactions of a namespace (see {@link monitorNft}): `nft monitor`,
   * in a namespace through `ip netns exec`. The child holds that namespace alive while it runs.
   * With `reader: 'events'`, one reader per namespace serves every watcher of this instance
   * ({@link SharedNftEvents}); `nft monitor`s are each their own.
   */
  monitorNft(onTransaction: (t: NftTransaction) => void, netns?: string, onExit?: (error: LinuxCommandError) => void, opts?: { reader?: 'nft' | 'events' }): StreamHandle {
    if (opts?.reader === 'events') return this.nftEvents.subscribe(onTransaction, netns, onExit);
    return monitorNft(this.runner, onTransaction, netns, onExit, opts);
  }

  private readonly nftEvents: SharedNftEvents;

  private read(command: LinuxCommand, args: string[]) {
    return this.runner.run(command, args, { mutating: false });
  }

  private async applyBatch(tool: 'ip' | 'bridge' | 'tc', batch: IpBatch | BridgeBatch | TcBatch): Promise<BatchResult> {
    if (batch.length === 0) return { ok: true, failed: [] };
    // In a namespace through `nsenter --net` rather than `ip -n`: the latter also makes a mount
    // namespace (copying every mount: one per network namespace) to remount /sys, which a batch
    // of netlink requests never reads (10–21 ms against 6.5–7 ms with 640 namespaces here).
    const [command, args]: [LinuxCommand, string[]] =
      batch.netns === undefined ? [tool, ['-force', '-batch', '-']] : ['nsenter', [`--net=${NETNS_DIR}/${assertNetnsName(batch.netns)}`, '--', tool, '-force', '-batch', '-']];
    const { stderr, exitCode } = await this.runner.run(command, args, { input: batch.toString(), mutating: true, reject: false });
    const { failed, trailing } = parseBatchErrors(stderr, batch.lines);
    if (exitCode !== 0 && (trailing !== '' || failed.length === 0)) {
      throw new LinuxBatchAbortedError(command, args, exitCode, stderr, failed);
    }
    return { ok: failed.length === 0, failed };
  }
}

/**
 * What {@link Linux.announce} runs: `DEV ADDRESS…` as arguments, one gratuitous ARP request per
 * address (42 bytes: Ethernet header, then ARP for IPv4 over Ethernet, op 1).
 */
const GARP_PROGRAM = `
import socket, sys
dev, addresses = sys.argv[1], sys.argv[2:]
try:
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((dev, 0))
    mac = s.getsockname()[4]
    if len(mac) != 6:
        sys.exit(dev + ': no Ethernet address')
    for a in addresses:
        ip = socket.inet_aton(a)
        s.send(bytes.fromhex('ffffffffffff') + mac + bytes.fromhex('08060001080006040001') + mac + ip + bytes(6) + ip)
except OSError as e:
    sys.exit(dev + ': ' + (e.strerror or str(e)))
`;

/** Writes the eBPF objects a tc batch loads that are not there yet (each file wholly named by its program; written, then renamed in). */
async function writeBpfObjects(programs: ReadonlyMap<string, VlanProgram>): Promise<void> {
  await mkdir(BPF_OBJECT_DIR, { recursive: true, mode: 0o755 });
  for (const [file, program] of programs) {
    const path = `${BPF_OBJECT_DIR}/${file}`;
    if (await access(path).then(() => true, () => false)) continue;
    const temporary = `${path}.${process.pid}.tmp`;
    await writeFile(temporary, vlanProgramObject(program), { mode: 0o644 });
    await rename(temporary, path);
  }
}

function nsArgs(netns: string | undefined): string[] {
  return netns === undefined ? [] : ['-n', assertNetnsName(netns)];
}

function nftCommand(netns: string | undefined, args: string[]): [LinuxCommand, string[]] {
  return netns === undefined ? ['nft', args] : ['ip', ['netns', 'exec', assertNetnsName(netns), 'nft', ...args]];
}

/** A mountinfo line of an nsfs mount, its mount point captured: `ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL…] - nsfs …`. */
const NSFS_MOUNT = /^\S+ \S+ \S+ \S+ (\S+) [^\n]*? - nsfs /gm;

/** mountinfo writes space, tab, newline and backslash in paths as octal escapes (`\\040`). */
function unescapeMountinfo(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

// Duck-typed: errors from node core fail `instanceof Error` inside jest's sandbox.
function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as NodeJS.ErrnoException).code === code;
}
