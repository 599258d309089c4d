/**
 * The two doors to nftables, side by side (prints figures; never fails on timing). Run as root:
 * `npm run bench:nft`. In a namespace of its own (per-run prefix, removed at the end), a table
 * shaped like the firewall's host table (500 rules with named counters in chains of 64, a verdict
 * map of 100 ports), then, alternately through the nft program (`ip netns exec NS nft -f -`) and
 * through libnftables in the netlink helper (no process): one chain of 64 rules rewritten, one map
 * element added, the named counters read. Medians of 15 each, with the machine's load. Then the
 * same through a helper whose own namespace it is (as an agent's helper is in its host's, where
 * it keeps one nft context): this program again, started in the namespace (`--home`).
 */
import { CommandRunner, IpBatch, Linux, NetlinkHelper } from '@netloom/linux';
import { load } from './reference';

const RULES = 500;
const PER_CHAIN = 64;
const PORTS = 100;
const RUNS = 15;
const ns = `nd${Math.random().toString(36).slice(2, 6)}-door`;
const say = (line: string): void => void process.stdout.write(`${line}\n`);
const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

const rule = (i: number, port: number): string => `ip saddr 172.${16 + (i >> 8)}.${i & 255}.0/24 tcp dport ${port} counter name "r_${i}" accept comment "netloom fw bench ${i} ALLOW"`;

function table(): string {
  const chains = Math.ceil(RULES / PER_CHAIN);
  const lines = ['table inet t {', ...Array.from({ length: RULES }, (_, i) => `counter r_${i} {}`), 'map in4 {', 'type ifname . ipv4_addr : verdict;', '}'];
  for (let c = 0; c < chains; c++) {
    lines.push(`chain p_${c} {`);
    for (let i = c * PER_CHAIN; i < Math.min(RULES, (c + 1) * PER_CHAIN); i++) lines.push(rule(i, 1_000 + i));
    lines.push('}');
  }
  lines.push('chain k_0 {', 'ct state established,related accept', ...Array.from({ length: chains }, (_, c) => `jump p_${c}`), 'drop', '}');
  lines.push('chain ingress {', 'type filter hook forward priority 0; policy accept;', 'oifname . ip daddr vmap @in4', '}', '}');
  const elements = Array.from({ length: PORTS }, (_, i) => `"br0" . 10.95.${i >> 8}.${(i & 255) + 1} : jump k_0`).join(', ');
  return `${lines.join('\n')}\nadd element inet t in4 { ${elements} }\n`;
}

type Times = { chain: number[]; element: number[]; counters: number[] };

/** One round: one chain of 64 rewritten, one map element added, the counters read, through `linux` in `netns` (undefined: this process's); `k` numbers the change. */
async function round(linux: Linux, netns: string | undefined, t: Times, k: number): Promise<void> {
  const chain = `flush chain inet t p_0\ntable inet t {\nchain p_0 {\n${Array.from({ length: PER_CHAIN }, (_, i) => rule(i, 20_000 + k * PER_CHAIN + i)).join('\n')}\n}\n}\n`;
  let start = performance.now();
  await linux.nftApply(chain, netns);
  t.chain.push(performance.now() - start);
  start = performance.now();
  await linux.nftApply(`add element inet t in4 { "br0" . 10.96.${k >> 8}.${k & 255} : jump k_0 }\n`, netns);
  t.element.push(performance.now() - start);
  start = performance.now();
  await linux.nftCounters('inet', 't', netns);
  t.counters.push(performance.now() - start);
}

const figures = (name: string, t: Times): string =>
  `  ${name}: one chain of ${PER_CHAIN} rewritten ${median(t.chain).toFixed(1)} ms, one map element ${median(t.element).toFixed(1)} ms, named counters read ${median(t.counters).toFixed(1)} ms`;

/** `--home`: run in the namespace by the parent; rounds through a helper of this process's own, in its own namespace; the times as JSON. */
async function home(): Promise<void> {
  const helper = new NetlinkHelper(1);
  await helper.open();
  const t: Times = { chain: [], element: [], counters: [] };
  for (let run = 0; run < RUNS; run++) await round(new Linux(new CommandRunner(), { netlink: helper }), undefined, t, 100 + run);
  say(JSON.stringify(t));
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root: the benchmark creates a namespace');
  if (process.argv.includes('--home')) return home();
  const helper = new NetlinkHelper(1);
  const opened = await helper.open();
  if ('reason' in opened || !opened.nft) throw new Error(`the netlink helper cannot run nft here: ${'reason' in opened ? opened.reason : 'libnftables not found'}`);
  const doors: [string, Linux][] = [
    ['nft program (ip netns exec NS nft -f -)', new Linux()],
    ['libnftables in the netlink helper', new Linux(new CommandRunner(), { netlink: helper })],
  ];
  const plain = doors[0][1];
  await plain.applyIpBatch(new IpBatch().netnsAdd(ns));
  try {
    await plain.nftApply(table(), ns);
    say(`nft doors (a table of ${RULES} rules with named counters in chains of ${PER_CHAIN}, a map of ${PORTS} ports; ${load()})`);
    const times: Times[] = doors.map(() => ({ chain: [], element: [], counters: [] }));
    let k = 0;
    // Alternately, so both see the same load.
    for (let run = 0; run < RUNS; run++) for (const [d, [, linux]] of doors.entries()) await round(linux, ns, times[d], ++k);
    for (const [d, [name]] of doors.entries()) say(figures(name, times[d]));
    const { stdout } = await plain.runner.run('nsenter', [`--net=/run/netns/${ns}`, '--', process.execPath, process.argv[1], '--home'], { mutating: true });
    say(figures('libnftables in a helper at home in the namespace (one context kept)', JSON.parse(stdout) as Times));
    say(`  (medians of ${RUNS}; ${load()})`);
  } finally {
    await plain.applyIpBatch(new IpBatch().netnsDel(ns));
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`benchmark failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
