import { existsSync } from 'node:fs';
import { assertNetnsName } from './names';
import { NETLINK_PYTHON } from './netlink';
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
 * Streams committed nftables transactions of a namespace from `nft monitor` (in a namespace
 * through `ip netns exec NS nft monitor`), or with `reader: 'events'` from {@link
 * NFT_EVENTS_PROGRAM} (Python on nfnetlink; `nft monitor` where there is no Python): the object
 * lines of a transaction are gathered until its `# new generation N by process PID (COMM)` line,
 * then `onTransaction` hears the tables it touched and who committed it. `onExit` is called if
 * the child ends without `stop()`. The events reader survives what kills nft 1.0.6's monitor but
 * starts in ~100 ms instead of ~5 (Python): for a watch that lives long, not one per namespace.
 */
export function monitorNft(
  runner: CommandRunner,
  onTransaction: (t: NftTransaction) => void,
  netns?: string,
  onExit?: (error: LinuxCommandError) => void,
  opts: { reader?: 'nft' | 'events' } = {},
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
  if (opts.reader !== 'events' || !existsSync(NETLINK_PYTHON)) {
    if (netns === undefined) return runner.stream('nft', ['monitor'], onLine, onExit);
    return runner.stream('ip', ['netns', 'exec', assertNetnsName(netns), 'nft', 'monitor'], onLine, onExit);
  }
  // The program comes on stdin (one JSON line), so the command line (and the command log) stays short.
  const args = [...(netns === undefined ? [] : [`--net=/run/netns/${assertNetnsName(netns)}`]), '--', NETLINK_PYTHON, '-c', NFT_EVENTS_BOOT, 'nft-events'];
  const handle = runner.stream('nsenter', args, onLine, onExit, { stdin: true });
  handle.write(`${JSON.stringify(NFT_EVENTS_PROGRAM)}\n`);
  return handle;
}

/** Runs the program given on stdin's first line (a JSON string). */
export const NFT_EVENTS_BOOT = 'import json,sys;exec(json.loads(sys.stdin.readline()))';

/**
 * What `nft monitor` was used for, without it: nft 1.0.6's monitor dies (SIGSEGV) printing an
 * element of a set that is both a concatenation and an interval set (port security's address
 * sets: every port added), and grows to hundreds of MB before. This reads the same netlink
 * events (nfnetlink's NFNLGRP_NFTABLES group, in the namespace it runs in) with Python's own
 * socket module and prints only what {@link parseNftMonitorLine} reads: `VERB OBJECT FAMILY
 * TABLE` for the first object of each table a transaction touches (a 500-rule table written
 * whole is one line, not a thousand: the watcher wants the tables, not the objects), then
 * `# new generation N by process PID (COMM)` at the transaction's end. Of an object's event only
 * its table (the first attribute) is read. Events lost to a full socket buffer (ENOBUFS) end it
 * with an error: whoever watches cannot know what it missed.
 */
export const NFT_EVENTS_PROGRAM = String.raw`
import errno, socket, struct, sys
NETLINK_NETFILTER, NFNLGRP_NFTABLES, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, SO_RCVBUFFORCE = 12, 7, 270, 1, 33
NFNL_SUBSYS_NFTABLES, NFT_MSG_NEWGEN = 10, 15
FAMILIES = {1: 'inet', 2: 'ip', 3: 'arp', 5: 'netdev', 7: 'bridge', 10: 'ip6'}
# NFT_MSG_* of an object of a table: its first attribute (NFTA_*_TABLE, NFTA_TABLE_NAME) names the table.
OBJECTS = {0: 'add table', 2: 'delete table', 3: 'add chain', 5: 'delete chain', 6: 'add rule', 8: 'delete rule',
           9: 'add set', 11: 'delete set', 12: 'add element', 14: 'delete element', 18: 'add obj', 20: 'delete obj',
           22: 'add flowtable', 24: 'delete flowtable'}
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
try:
    s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 8 << 20)
except OSError:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
s.bind((0, 0))
s.setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, NFNLGRP_NFTABLES)

def attributes(data, off, end, only=None):
    found = {}
    while off + 4 <= end:
        length, kind = struct.unpack_from('=HH', data, off)
        if length < 4: break
        found[kind & 0x3fff] = data[off + 4:off + length]
        if kind & 0x3fff == only: break
        off += (length + 3) & ~3
    return found

def text(value):
    return value.split(b'\0')[0].decode('utf-8', 'replace')

# The tables of the transaction under way (until its generation), each printed once.
seen = set()
while True:
    try:
        data = s.recv(1 << 20)
    except OSError as e:
        if e.errno == errno.ENOBUFS:
            sys.stderr.write('nftables events lost (ENOBUFS)\n')
            sys.exit(1)
        raise
    lines = []
    off = 0
    while off + 16 <= len(data):
        length, kind = struct.unpack_from('=IH', data, off)
        if length < 16: break
        if kind >> 8 == NFNL_SUBSYS_NFTABLES and length >= 20:
            message, family = kind & 0xff, data[off + 16]
            if message == NFT_MSG_NEWGEN:
                a = attributes(data, off + 20, off + length)
                number = struct.unpack('>I', a[1])[0] if 1 in a else 0
                pid = struct.unpack('>I', a[2])[0] if 2 in a else 0
                lines.append('# new generation %d by process %d (%s)' % (number, pid, text(a.get(3, b''))))
                seen.clear()
            elif message in OBJECTS:
                a = attributes(data, off + 20, off + length, 1)
                if 1 in a:
                    table = (family, text(a[1]))
                    if table not in seen:
                        seen.add(table)
                        lines.append('%s %s %s' % (OBJECTS[message], FAMILIES.get(family, 'unknown'), table[1]))
        off += (length + 3) & ~3
    if lines:
        sys.stdout.write('\n'.join(lines) + '\n')
        sys.stdout.flush()
`;

/**
 * One events reader ({@link monitorNft} with `reader: 'events'`) per namespace, heard by every
 * watcher there: an agent's port-security watch and each plugin context's watch of the host
 * namespace hear the same transactions, so one process reads them (a second started with the
 * first table of a plugin, ~100 ms of Python, and read every event again). Each subscription is
 * a handle of its own: stopping it stops the reader only when it was the last; a reader that
 * ends by itself tells every subscriber (`onExit`), and the next subscription starts a new one.
 */
export class SharedNftEvents {
  private readonly readers = new Map<string, { handle: StreamHandle; subscribers: Set<Subscriber> }>();

  constructor(private readonly runner: CommandRunner) {}

  subscribe(onTransaction: (t: NftTransaction) => void, netns?: string, onExit?: (error: LinuxCommandError) => void): StreamHandle {
    const key = netns ?? '';
    let reader = this.readers.get(key);
    if (!reader) {
      const subscribers = new Set<Subscriber>();
      const handle = monitorNft(
        this.runner,
        (t) => {
          for (const s of [...subscribers]) s.onTransaction(t);
        },
        netns,
        (error) => {
          if (this.readers.get(key)?.handle === handle) this.readers.delete(key);
          for (const s of [...subscribers]) s.ended(error);
          subscribers.clear();
        },
        { reader: 'events' },
      );
      reader = { handle, subscribers };
      this.readers.set(key, reader);
    }
    const { handle, subscribers } = reader;
    let done!: () => void;
    const exited = new Promise<void>((resolve) => (done = resolve));
    void handle.exited.then(done);
    const subscriber: Subscriber = {
      onTransaction,
      ended: (error) => {
        onExit?.(error);
        done();
      },
    };
    subscribers.add(subscriber);
    return {
      pid: handle.pid,
      exited,
      write: () => false,
      stop: () => {
        if (!subscribers.delete(subscriber)) return;
        if (subscribers.size > 0) {
          done();
          return;
        }
        if (this.readers.get(key)?.handle === handle) this.readers.delete(key);
        handle.stop();
      },
    };
  }
}

interface Subscriber {
  onTransaction: (t: NftTransaction) => void;
  ended: (error: LinuxCommandError) => void;
}
