import { assertNetnsName } from './names';
import { parseLinkEvent, parseNftMonitorLine } from './parse';
import type { CommandRunner, LinuxCommandError, StreamHandle } from './runner';
import type { LinkEvent, NftTransaction } from './types';

/** A running link monitor. */
export interface LinkMonitor {
  /** Kills exactly the `ip monitor` child of this monitor. Idempotent. */
  stop(): void;
  /** The child's pid, for logs. */
  readonly pid?: number;
}

/**
 * Streams link events from `ip [-n NS] -o monitor link` (one line per event; `-json` prints plain
 * text on iproute2 6.1 anyway). `onExit` is called if the child ends without `stop()`: restarting
 * is the caller's business.
 */
export function monitorLinks(
  runner: CommandRunner,
  onEvent: (e: LinkEvent) => void,
  netns?: string,
  onExit?: (error: LinuxCommandError) => void,
): LinkMonitor {
  const args = [...(netns === undefined ? [] : ['-n', assertNetnsName(netns)]), '-o', 'monitor', 'link'];
  const handle = runner.stream('ip', args, (line) => onEvent(parseLinkEvent(line)), onExit);
  return { pid: handle.pid, stop: () => handle.stop() };
}

/**
 * Streams committed nftables transactions from `nft monitor` (in a namespace through `ip netns
 * exec NS nft monitor`): the object lines of a transaction are gathered until its `# new
 * generation N by process PID (COMM)` line, then `onTransaction` hears the tables it touched
 * and who committed it. `onExit` is called if the child ends without `stop()`.
 */
export function monitorNft(
  runner: CommandRunner,
  onTransaction: (t: NftTransaction) => void,
  netns?: string,
  onExit?: (error: LinuxCommandError) => void,
): StreamHandle {
  const tables = new Map<string, { family: string; table: string }>();
  const onLine = (line: string): void => {
    const parsed = parseNftMonitorLine(line);
    if (parsed?.type === 'object') tables.set(`${parsed.family} ${parsed.table}`, { family: parsed.family, table: parsed.table });
    else if (parsed?.type === 'generation') {
      const touched = [...tables.values()];
      tables.clear();
      onTransaction({ generation: parsed.generation, pid: parsed.pid, comm: parsed.comm, tables: touched });
    }
  };
  if (netns === undefined) return runner.stream('nft', ['monitor'], onLine, onExit);
  return runner.stream('ip', ['netns', 'exec', assertNetnsName(netns), 'nft', 'monitor'], onLine, onExit);
}
