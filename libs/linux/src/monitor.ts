import { assertNetnsName } from './names';
import { parseLinkEvent } from './parse';
import type { CommandRunner, LinuxCommandError } from './runner';
import type { LinkEvent } from './types';

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
