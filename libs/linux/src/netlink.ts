import { availableParallelism } from 'node:os';
import { createInterface } from 'node:readline';
import type { BatchLine, NetlinkOp } from './batch';
import { COMMAND_TIMEOUT_MS } from './runner';
import { holdHelper as hold, type LineHelper as Child, startLineHelper } from './spawner';

/** The interpreter the helper runs on: Debian's, where `python3-pyroute2` installs (not a pyenv's). */
export const NETLINK_PYTHON = '/usr/bin/python3';

/**
 * The helper: Python with pyroute2 (a maintained netlink library, Debian's `python3-pyroute2`).
 * One request per stdin line: `{id, netns, ops}`, `{id, netns, read: 'link', dev}` or `{id, netns,
 * nft, json}`. For a namespace it enters it (`setns`), opens a netlink socket there (a socket stays
 * in the namespace it was made in) and comes back, then sends each op as the one request `ip`
 * would send for that batch line, with the same attributes (route protocol `boot`, scope `link`
 * without a gateway, …); `netns add`/`del` it does as iproute2 does them (unshare and a bind mount;
 * a lazy unmount and unlink). Like `ip -force -batch`, every op runs and each failure is reported
 * by line number with `ip`'s wording; a namespace that cannot be entered, or a veth peer's that
 * cannot be opened, aborts the request as it stops `ip`. An nft script runs through libnftables
 * (the nft program's library, by ctypes): in the helper's own namespace with one context kept
 * for its life (no write there waits for the last one's socket to close), elsewhere with a fresh
 * context (its socket's last close, which waits for the kernel, behind the answer). First line
 * out: `{ready, version, nft}` or `{unavailable}`.
 */
const PROGRAM = String.raw`
import json, os, sys, ctypes, queue, threading
try:
    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError
except Exception as e:
    print(json.dumps({'unavailable': 'pyroute2: ' + str(e)}), flush=True)
    sys.exit(0)
import socket
from socket import AF_INET, AF_INET6
libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000
home = os.open('/proc/self/ns/net', os.O_RDONLY)
root = IPRoute()

def setns(fd):
    if libc.setns(fd, CLONE_NEWNET) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))

class Missing(Exception):
    pass

class Abort(Exception):
    pass

def family(f):
    return AF_INET6 if f == 6 else AF_INET

def run(ipr, ops):
    index = {}
    def dev(name):
        # By ioctl in the namespace this thread is in (the batch's): cheaper than a netlink get.
        if name not in index:
            try:
                index[name] = socket.if_nametoindex(name)
            except OSError:
                raise Missing('Cannot find device "%s"' % name)
        return index[name]
    failed = []
    for n, o in enumerate(ops, 1):
        try:
            kind = o['op']
            if kind == 'link':
                kw = {}
                if o.get('down'): kw['state'] = 'down'
                if o.get('up'): kw['state'] = 'up'
                if 'mtu' in o: kw['mtu'] = o['mtu']
                if 'address' in o: kw['address'] = o['address']
                if 'master' in o: kw['master'] = dev(o['master'])
                if o.get('nomaster'): kw['master'] = 0
                if 'alias' in o: kw['ifalias'] = o['alias']
                if 'addrgenmode' in o:
                    mode = 1 if o['addrgenmode'] == 'none' else 0
                    kw['IFLA_AF_SPEC'] = {'attrs': [('AF_INET6', {'attrs': [('IFLA_INET6_ADDR_GEN_MODE', mode)]})]}
                ipr.link('set', index=dev(o['dev']), **kw)
            elif kind == 'linkDel':
                ipr.link('del', index=dev(o['dev']))
                index.pop(o['dev'], None)
            elif kind == 'addr':
                ipr.addr(o['cmd'], index=dev(o['dev']), address=o['address'], prefixlen=o['prefixlen'], family=family(o['family']))
            elif kind == 'route':
                kw = {'family': family(o['family']), 'dst_len': o['dstLen'], 'table': o.get('table', 254)}
                if o['dst'] is not None: kw['dst'] = o['dst']
                if 'via' in o: kw['gateway'] = o['via']
                if 'dev' in o: kw['oif'] = dev(o['dev'])
                if o['cmd'] == 'replace':
                    # As ip sends it: protocol boot, unicast, scope link unless there is a gateway.
                    kw.update(proto=3, type=1, scope=0 if 'via' in o else 253)
                else:
                    kw.update(proto=0, type=0, scope=255)
                ipr.route(o['cmd'], **kw)
            elif kind == 'routeFlush':
                # As 'ip route flush table T': its IPv4 routes; an empty table is no error.
                ipr.flush_routes(table=o['table'], family=AF_INET)
            elif kind == 'rule':
                # As ip sends 'rule add/del iif IIF lookup T pref P': IPv4, to the table.
                ipr.rule(o['cmd'], iifname=o['iif'], table=o['table'], priority=o['pref'], family=AF_INET)
            elif kind == 'hairpin':
                ipr.brport('set', index=dev(o['dev']), mode=1 if o['on'] else 0)
            elif kind == 'netnsAdd':
                netns_add(o['name'])
            elif kind == 'netnsDel':
                netns_del(o['name'])
            elif kind == 'vethAdd':
                kw = {'ifname': o['dev'], 'kind': 'veth'}
                peer = {'ifname': o['peer']}
                if 'mtu' in o:
                    kw['mtu'] = o['mtu']
                    peer['mtu'] = o['mtu']
                if 'master' in o: kw['master'] = dev(o['master'])
                if o.get('up'): kw['state'] = 'up'
                fd = None
                if 'peerNetns' in o:
                    try:
                        fd = os.open(NETNS_RUN_DIR + '/' + o['peerNetns'], os.O_RDONLY)
                    except OSError:
                        # ip stops the whole batch on a namespace it cannot open (a parse error there).
                        raise Abort('Error: argument "%s" is wrong: Invalid "netns" value' % o['peerNetns'])
                    peer['net_ns_fd'] = fd
                try:
                    ipr.link('add', peer=peer, **kw)
                finally:
                    if fd is not None: os.close(fd)
            elif kind == 'neigh':
                kw = {'dst': o['ip'], 'ifindex': dev(o['dev']), 'family': family(o['family'])}
                if o['cmd'] == 'replace':
                    kw.update(lladdr=o['mac'], state=0x80)
                ipr.neigh(o['cmd'], **kw)
            else:
                raise Missing('unknown op %r' % kind)
        except Abort:
            raise
        except Missing as e:
            failed.append({'line': n, 'error': str(e)})
        except NetlinkError as e:
            failed.append({'line': n, 'error': 'RTNETLINK answers: ' + os.strerror(e.code)})
        except Exception as e:
            failed.append({'line': n, 'error': '%s: %s' % (type(e).__name__, e)})
    return failed

try:
    from importlib.metadata import version
    found = version('pyroute2')
except Exception:
    found = 'unknown'
# libnftables (the library nft itself is made of): a script in a namespace with no process.
NFT_CTX_OUTPUT_JSON = 16
try:
    nftlib = ctypes.CDLL('libnftables.so.1')
    nftlib.nft_ctx_new.restype = ctypes.c_void_p
    nftlib.nft_ctx_new.argtypes = [ctypes.c_uint32]
    nftlib.nft_ctx_free.argtypes = [ctypes.c_void_p]
    nftlib.nft_ctx_buffer_output.argtypes = [ctypes.c_void_p]
    nftlib.nft_ctx_buffer_error.argtypes = [ctypes.c_void_p]
    nftlib.nft_ctx_output_set_flags.argtypes = [ctypes.c_void_p, ctypes.c_uint]
    nftlib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    nftlib.nft_ctx_get_output_buffer.argtypes = [ctypes.c_void_p]
    nftlib.nft_ctx_get_output_buffer.restype = ctypes.c_char_p
    nftlib.nft_ctx_get_error_buffer.argtypes = [ctypes.c_void_p]
    nftlib.nft_ctx_get_error_buffer.restype = ctypes.c_char_p
except (OSError, AttributeError):
    nftlib = None

# The last close of a context's nftables socket waits for the kernel to finish destroying what
# the transactions removed (an RCU grace period, 6-20 ms here), the larger part of a small write.
# So the socket is duplicated before the context is freed (here, as before: libnftables' state is
# released at once) and the duplicate, now the last reference, is closed by a thread of its own
# after the answer is out: nobody waits for it.
to_close = queue.Queue()

def close_sockets():
    while True:
        os.close(to_close.get())

def open_sockets():
    # (descriptor, socket inode) of this process's sockets; the listing's own descriptor is none.
    out = set()
    for f in os.listdir('/proc/self/fd'):
        try:
            link = os.readlink('/proc/self/fd/' + f)
        except OSError:
            continue
        if link.startswith('socket:'): out.add((int(f), link))
    return out

def new_context():
    ctx = nftlib.nft_ctx_new(0)
    nftlib.nft_ctx_buffer_output(ctx)
    nftlib.nft_ctx_buffer_error(ctx)
    return ctx

def nft_once(ctx, script, as_json):
    nftlib.nft_ctx_output_set_flags(ctx, NFT_CTX_OUTPUT_JSON if as_json else 0)
    rc = nftlib.nft_run_cmd_from_buffer(ctx, script.encode())
    return {'code': 0 if rc == 0 else 1, 'stdout': (nftlib.nft_ctx_get_output_buffer(ctx) or b'').decode(), 'stderr': (nftlib.nft_ctx_get_error_buffer(ctx) or b'').decode()}

# The helper's own namespace (the host's) keeps one context: its socket never closes, so no write
# there waits for the last one's grace period (the kernel takes the namespace's commit lock for
# it), and its cache is refetched only when the ruleset's generation moved. Never another
# namespace's: an open socket would keep a deleted namespace alive, with its links.
home_ctx = None

def nft_run(script, as_json, netns):
    global home_ctx
    if netns is None:
        if home_ctx is None: home_ctx = new_context()
        return nft_once(home_ctx, script, as_json)
    # A context per script, as one nft process has: nothing cached from another namespace.
    before = open_sockets()
    ctx = new_context()
    try:
        return nft_once(ctx, script, as_json)
    finally:
        last = [os.dup(fd) for fd, _ in open_sockets() - before]
        nftlib.nft_ctx_free(ctx)
        # Only now: closed first, the duplicate would leave the waiting close to the context.
        for fd in last: to_close.put(fd)

if nftlib is not None: threading.Thread(target=close_sockets, daemon=True).start()
print(json.dumps({'ready': True, 'version': found, 'nft': nftlib is not None}), flush=True)
OPERSTATES = ['UNKNOWN', 'NOTPRESENT', 'DOWN', 'LOWERLAYERDOWN', 'TESTING', 'DORMANT', 'UP']
GEN_MODES = ['eui64', 'none', 'stable_secret', 'random']

NETNS_RUN_DIR = '/run/netns'
MS_BIND, MS_REC, MS_SHARED, MNT_DETACH = 4096, 16384, 1 << 20, 2
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p]
libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
shared_run_dir = [False]

def failure(what):
    return Missing('%s: %s' % (what, os.strerror(ctypes.get_errno())))

def netns_add(name):
    # What 'ip netns add' does (iproute2 ipnetns.c), in this process: the run directory a shared
    # mount (once), the file, a new namespace for this thread bound onto it, then back home.
    path = NETNS_RUN_DIR + '/' + name
    if not shared_run_dir[0]:
        os.makedirs(NETNS_RUN_DIR, mode=0o755, exist_ok=True)
        made = False
        while libc.mount(b'', NETNS_RUN_DIR.encode(), b'none', MS_SHARED | MS_REC, None) != 0:
            if ctypes.get_errno() != 22 or made:
                raise failure('mount --make-shared %s failed' % NETNS_RUN_DIR)
            if libc.mount(NETNS_RUN_DIR.encode(), NETNS_RUN_DIR.encode(), b'none', MS_BIND | MS_REC, None) != 0:
                raise failure('mount --bind %s %s failed' % (NETNS_RUN_DIR, NETNS_RUN_DIR))
            made = True
        shared_run_dir[0] = True
    try:
        os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0))
    except OSError as e:
        raise Missing('Cannot create namespace file "%s": %s' % (path, e.strerror))
    try:
        if libc.unshare(CLONE_NEWNET) != 0:
            raise failure('Failed to create a new network namespace "%s"' % name)
        try:
            if libc.mount(b'/proc/thread-self/ns/net', path.encode(), b'none', MS_BIND, None) != 0:
                raise failure('Bind /proc/self/ns/net -> %s failed' % path)
        finally:
            setns(home)
    except Exception:
        os.unlink(path)
        raise

def netns_del(name):
    path = NETNS_RUN_DIR + '/' + name
    libc.umount2(path.encode(), MNT_DETACH)
    try:
        os.unlink(path)
    except OSError as e:
        raise Missing('Cannot remove namespace file "%s": %s' % (path, e.strerror))

def link_info(ipr, name):
    # One link as 'ip -json -details link show dev NAME' has it, in the fields parse.ts reads.
    try:
        m = ipr.link('get', ifname=name)[0]
    except NetlinkError as e:
        if e.code == 19: return None
        raise
    a = m.get_attr
    out = {'ifname': a('IFLA_IFNAME'), 'ifindex': m['index'], 'mtu': a('IFLA_MTU'), 'flags': ['UP'] if m['flags'] & 1 else []}
    if a('IFLA_ADDRESS') is not None: out['address'] = a('IFLA_ADDRESS')
    if a('IFLA_MASTER'): out['master'] = socket.if_indextoname(a('IFLA_MASTER'))
    state = a('IFLA_OPERSTATE')
    if isinstance(state, int): state = OPERSTATES[state] if state < len(OPERSTATES) else 'UNKNOWN'
    if state is not None: out['operstate'] = state
    if a('IFLA_IFALIAS'): out['ifalias'] = a('IFLA_IFALIAS')
    if a('IFLA_LINK_NETNSID') is not None:
        out['link_netnsid'] = a('IFLA_LINK_NETNSID')
        if a('IFLA_LINK'): out['link_index'] = a('IFLA_LINK')
    spec = a('IFLA_AF_SPEC')
    inet6 = spec.get_attr('AF_INET6') if spec is not None else None
    mode = inet6.get_attr('IFLA_INET6_ADDR_GEN_MODE') if inet6 is not None else None
    if mode is not None and mode < len(GEN_MODES): out['inet6_addr_gen_mode'] = GEN_MODES[mode]
    info = a('IFLA_LINKINFO')
    kind = info.get_attr('IFLA_INFO_KIND') if info is not None else None
    if kind:
        out['linkinfo'] = {'info_kind': kind}
        data = info.get_attr('IFLA_INFO_DATA')
        if kind == 'vxlan' and data is not None:
            d = data.get_attr
            vx = {'id': d('IFLA_VXLAN_ID'), 'port': d('IFLA_VXLAN_PORT'), 'learning': bool(d('IFLA_VXLAN_LEARNING')), 'proxy': bool(d('IFLA_VXLAN_PROXY'))}
            if d('IFLA_VXLAN_LOCAL'): vx['local'] = d('IFLA_VXLAN_LOCAL')
            out['linkinfo']['info_data'] = vx
        slave = info.get_attr('IFLA_INFO_SLAVE_DATA') if info.get_attr('IFLA_INFO_SLAVE_KIND') == 'bridge' else None
        if slave is not None and slave.get_attr('IFLA_BRPORT_MODE') is not None:
            out['linkinfo']['info_slave_kind'] = 'bridge'
            out['linkinfo']['info_slave_data'] = {'hairpin': bool(slave.get_attr('IFLA_BRPORT_MODE'))}
    return out

def announce(dev, addresses):
    # One gratuitous ARP request per address out of dev (see Linux.announce).
    try:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        try:
            s.bind((dev, 0))
            mac = s.getsockname()[4]
            if len(mac) != 6:
                return {'error': dev + ': no Ethernet address'}
            for a in addresses:
                ip = socket.inet_aton(a)
                s.send(bytes.fromhex('ffffffffffff') + mac + bytes.fromhex('08060001080006040001') + mac + ip + bytes(6) + ip)
        finally:
            s.close()
    except OSError as e:
        return {'error': dev + ': ' + (e.strerror or str(e))}
    return {'announced': len(addresses)}

def sysctl(path, value):
    # A /proc/sys file opened in the request's namespace: net.* keys are that namespace's own.
    try:
        if value is None:
            with open(path) as f:
                return {'value': f.read().strip()}
        with open(path, 'w') as f:
            f.write(value)
        return {'written': True}
    except OSError as e:
        return {'error': path + ': ' + (e.strerror or str(e))}

def serve(r, ipr):
    if 'sysctl' in r:
        return dict(sysctl(r['sysctl']['path'], r['sysctl']['value']), id=r['id'])
    if 'announce' in r:
        return dict(announce(r['announce']['dev'], r['announce']['addresses']), id=r['id'])
    if 'nft' in r:
        return dict(nft_run(r['nft'], r.get('json', False), r['netns']), id=r['id'])
    if 'read' in r:
        return {'id': r['id'], 'link': link_info(ipr, r['dev'])}
    return {'id': r['id'], 'failed': run(ipr, r['ops'])}

for line in sys.stdin:
    r = json.loads(line)
    try:
        if r['netns'] is None:
            answer = serve(r, root)
        else:
            try:
                fd = os.open('/run/netns/' + r['netns'], os.O_RDONLY)
            except OSError as e:
                print(json.dumps({'id': r['id'], 'abort': 'cannot open /run/netns/%s: %s' % (r['netns'], e.strerror)}), flush=True)
                continue
            # In the request's namespace for the whole request: its socket and its names are there.
            try:
                setns(fd)
            except OSError as e:
                os.close(fd)
                print(json.dumps({'id': r['id'], 'abort': 'cannot enter /run/netns/%s: %s' % (r['netns'], e.strerror)}), flush=True)
                continue
            try:
                if 'nft' in r or 'announce' in r or 'sysctl' in r:
                    answer = serve(r, None)
                else:
                    ipr = IPRoute()
                    try:
                        answer = serve(r, ipr)
                    finally:
                        ipr.close()
            finally:
                setns(home)
                os.close(fd)
    except Abort as e:
        answer = {'id': r['id'], 'abort': str(e)}
    except Exception as e:
        answer = {'id': r['id'], 'abort': '%s: %s' % (type(e).__name__, e)}
    print(json.dumps(answer), flush=True)
`;

/** What the helper did with one batch: the lines that failed (1-based), or why it could not run at all. */
export type NetlinkAnswer = { failed: { line: number; error: string }[] } | { abort: string };

/** One link as `ip -json -details link show` prints it (the fields `parse.ts` reads), null when missing, or why it could not be read. */
export type NetlinkLinkAnswer = { link: Record<string, unknown> | null } | { abort: string };

/** What libnftables said to one script, as the nft program would have (exit code 0 or 1, its output and errors), or why it could not run. */
export type NftAnswer = { code: number; stdout: string; stderr: string } | { abort: string };

/** What one announcement came to: how many requests were sent, why none could be (the device), or why it could not run. */
export type AnnounceAnswer = { announced: number } | { error: string } | { abort: string };

/** A sysctl file read (its value) or written, why not (the file), or why the request could not run. */
export type SysctlAnswer = { value: string } | { written: true } | { error: string } | { abort: string };

type Request = { ops: NetlinkOp[] } | { read: 'link'; dev: string } | { nft: string; json: boolean } | { announce: { dev: string; addresses: string[] } }
  | { sysctl: { path: string; value: string | null } };
type Answer = NetlinkAnswer | NetlinkLinkAnswer | NftAnswer | AnnounceAnswer | SysctlAnswer;

interface Pending {
  resolve: (answer: Answer) => void;
  timer: NodeJS.Timeout;
}

type Opened = { version: string; nft: boolean } | { reason: string };

/**
 * The long-lived netlink helpers of this process (see {@link PROGRAM}): a batch in a namespace
 * costs a `setns` and a socket in it instead of a process. One Python process runs one batch at a
 * time, so there are `size` of them (default: one per core, at most 4), each batch going to the
 * least busy. Started by {@link open}, which says whether they can run here (Python and pyroute2
 * present); one that ended is started again on its next request. They die with this process
 * (`setpriv --pdeathsig KILL`) and keep nothing alive while idle.
 */
export class NetlinkHelper {
  private readonly processes: NetlinkProcess[];
  private ready: Promise<Opened> | undefined;

  constructor(size = Math.min(4, Math.max(1, availableParallelism()))) {
    this.processes = Array.from({ length: size }, () => new NetlinkProcess());
  }

  /** Whether the helpers run nft scripts too (libnftables loaded): known once {@link open} resolved. */
  nftReady = false;

  /** Starts the helpers (once) and resolves with pyroute2's version and whether libnftables loaded, or why they cannot run. */
  open(): Promise<Opened> {
    this.ready ??= Promise.all(this.processes.map((p) => p.open())).then((all) => {
      const opened = all.find((o) => 'reason' in o) ?? all[0];
      this.nftReady = 'nft' in opened && opened.nft;
      return opened;
    });
    return this.ready;
  }

  /** Whether a batch can go through the helper: every line has its request as data. */
  static accepts(lines: readonly BatchLine[]): boolean {
    return lines.every((l) => l.op !== undefined);
  }

  /** Runs one batch's ops in `netns` (undefined: this process's namespace), on the least busy helper. Never rejects. */
  apply(netns: string | undefined, ops: NetlinkOp[]): Promise<NetlinkAnswer> {
    return this.request(netns, { ops }) as Promise<NetlinkAnswer>;
  }

  /** Reads one link in `netns` (one RTM_GETLINK), as `ip -json -details link show dev NAME` has it. Never rejects. */
  readLink(netns: string | undefined, dev: string): Promise<NetlinkLinkAnswer> {
    return this.request(netns, { read: 'link', dev }) as Promise<NetlinkLinkAnswer>;
  }

  /**
   * Runs an nft script in `netns` through libnftables (what `nft -f -` runs, without a process;
   * `json`: the output as `nft -j` prints it). `onPid` hears the pid of the helper that commits it
   * before it is sent (`nft monitor` names that process). Only when {@link open} said `nft: true`. Never rejects.
   */
  nft(netns: string | undefined, script: string, json: boolean, onPid?: (pid: number) => void): Promise<NftAnswer> {
    return this.request(netns, { nft: script, json }, onPid) as Promise<NftAnswer>;
  }

  /** Sends one gratuitous ARP request per IPv4 address out of `dev` in `netns` (what {@link Linux.announce} does, without a process). Never rejects. */
  announce(netns: string | undefined, dev: string, addresses: string[]): Promise<AnnounceAnswer> {
    return this.request(netns, { announce: { dev, addresses } }) as Promise<AnnounceAnswer>;
  }

  /** Reads (`value` null) or writes a /proc/sys file in `netns` (what `ip netns exec NS sysctl` does, without a process). Never rejects. */
  sysctl(netns: string | undefined, path: string, value: string | null): Promise<SysctlAnswer> {
    return this.request(netns, { sysctl: { path, value } }) as Promise<SysctlAnswer>;
  }

  private async request(netns: string | undefined, request: Request, onPid?: (pid: number) => void): Promise<Answer> {
    const opened = await this.open();
    if ('reason' in opened) return { abort: `the netlink helper cannot run: ${opened.reason}` };
    const idle = this.processes.reduce((a, b) => (b.load < a.load ? b : a));
    return idle.apply(netns, request, onPid);
  }

  /** Batches each helper process was sent so far. */
  get served(): number[] {
    return this.processes.map((p) => p.served);
  }

  /** The helpers' pids (those running). */
  get pids(): number[] {
    return this.processes.map((p) => p.pid).filter((pid): pid is number => pid !== undefined);
  }
}

/** One helper process. */
class NetlinkProcess {
  private child: Child | undefined;
  private ready: Promise<Opened> | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  served = 0;

  /** Batches given to it and not answered yet (counted at once, so batches given together spread). */
  get load(): number {
    return this.outstanding;
  }

  private outstanding = 0;

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts the process (once; again after it ended, if it had worked). */
  open(): Promise<Opened> {
    this.ready ??= this.start();
    return this.ready;
  }

  async apply(netns: string | undefined, request: Request, onPid?: (pid: number) => void): Promise<Answer> {
    this.outstanding++;
    try {
      return await this.send(netns, request, onPid);
    } finally {
      this.outstanding--;
    }
  }

  private async send(netns: string | undefined, request: Request, onPid?: (pid: number) => void): Promise<Answer> {
    const opened = await this.open();
    const child = this.child;
    if ('reason' in opened || !child) return { abort: `the netlink helper cannot run: ${'reason' in opened ? opened.reason : 'not started'}` };
    if (child.pid !== undefined) onPid?.(child.pid);
    const id = this.nextId++;
    this.served++;
    return new Promise<Answer>((resolve) => {
      if (!this.pending.size) hold(child, true);
      // A helper stuck this long is killed: its requests (this one included) fail as aborted.
      const timer = setTimeout(() => child.kill('SIGKILL'), COMMAND_TIMEOUT_MS);
      this.pending.set(id, { resolve, timer });
      child.stdin.write(`${JSON.stringify({ id, netns: netns ?? null, ...request })}\n`);
    });
  }

  private start(): Promise<Opened> {
    const child = startLineHelper(NETLINK_PYTHON, ['-c', PROGRAM], { LC_ALL: 'C' });
    this.child = child;
    child.stdin.on('error', () => undefined);
    let first: ((v: Opened) => void) | undefined;
    let worked = false;
    const ready = new Promise<Opened>((resolve) => (first = resolve));
    createInterface({ input: child.stdout, crlfDelay: Infinity }).on('line', (line) => {
      if (first) {
        // Started: idle again (held while it starts, as whoever awaits `open` needs the answer).
        if (!this.pending.size) hold(child, false);
        const hello = parse<{ ready?: boolean; version?: string; nft?: boolean; unavailable?: string }>(line);
        worked = hello?.ready === true;
        first(hello?.ready ? { version: hello.version ?? 'unknown', nft: hello.nft === true } : { reason: hello?.unavailable ?? `unexpected first line from the helper` });
        first = undefined;
        return;
      }
      this.answer(line);
    });
    void child.then((result) => {
      const why = `the netlink helper ended (${result.shortMessage ?? `exit ${String(result.exitCode)}`})`;
      first?.({ reason: why });
      first = undefined;
      // Next time, a new one (only if this one had worked: a missing Python stays missing).
      if (this.child === child) {
        this.child = undefined;
        if (worked) this.ready = undefined;
      }
      for (const [id, p] of this.pending) {
        this.pending.delete(id);
        clearTimeout(p.timer);
        p.resolve({ abort: why });
      }
    });
    hold(child, true);
    return ready;
  }

  private answer(line: string): void {
    const m = parse<
      { id: number } & Partial<{ failed: { line: number; error: string }[]; abort: string; link: Record<string, unknown> | null; code: number; stdout: string; stderr: string; announced: number; error: string; value: string; written: boolean }>
    >(line);
    const p = m && this.pending.get(m.id);
    if (!m || !p) return;
    this.pending.delete(m.id);
    clearTimeout(p.timer);
    if (!this.pending.size && this.child) hold(this.child, false);
    if (m.abort !== undefined) p.resolve({ abort: m.abort });
    else if (m.link !== undefined) p.resolve({ link: m.link });
    else if (m.code !== undefined) p.resolve({ code: m.code, stdout: m.stdout ?? '', stderr: m.stderr ?? '' });
    else if (m.error !== undefined) p.resolve({ error: m.error });
    else if (m.announced !== undefined) p.resolve({ announced: m.announced });
    else if (m.value !== undefined) p.resolve({ value: m.value });
    else if (m.written !== undefined) p.resolve({ written: true });
    else p.resolve({ failed: m.failed ?? [] });
  }
}

function parse<T>(line: string): T | undefined {
  try {
    return JSON.parse(line) as T;
  } catch {
    return undefined;
  }
}

/** The one helper of this process. */
export const netlinkHelper = new NetlinkHelper();
