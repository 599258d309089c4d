import { ChildProcess, spawn } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { dist } from './paths';
import { OutputLines, run, waitFor } from '@netloom/simhosts';

export { type ExecResult, netnsExec, ping, run, sleep, type Truthy, waitFor } from '@netloom/simhosts';

const MAIN = dist('apps/agent/src/main.js');
const CONTROLLER_MAIN = dist('apps/controller/src/main.js');
const PREFIX = /^[a-z][a-z0-9]{0,3}$/;

export interface AgentStartOptions {
  /** Controller base URL, without /graphql (e.g. http://127.0.0.1:4000). */
  controllerUrl: string;
  joinToken?: string;
  /** A file holding the join token (`--join-token-file`), instead of `joinToken` on the command line. */
  joinTokenFile?: string;
  prefix: string;
  stateDir: string;
  resyncMs?: number;
  /** More flags, after the usual ones. */
  extraArgs?: string[];
}

/** The controller base URL (what the agent dials) from the GraphQL URL the controller prints. */
export const baseUrl = (graphqlUrl: string): string => graphqlUrl.replace(/\/graphql\/?$/, '');

/** Like run, but throws with the command's output on a non-zero exit. */
export async function runOk(file: string, args: string[]): Promise<string> {
  const result = await run(file, args);
  if (result.code !== 0) throw new Error(`${file} ${args.join(' ')} exited ${result.code}: ${result.stderr.trim()}`);
  return result.stdout;
}

/** A TCP port that was free a moment ago (bind to 0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => done(port));
    });
  });
}

/**
 * Waits until the built agent and controller are in dist/ and finished: someone else's
 * `npm run build` removes dist/ and rewrites the path aliases (`@netloom/…`) last.
 */
export function waitForDist(timeoutMs = 60_000): Promise<true> {
  const ready = (file: string): boolean =>
    Date.now() - statSync(file).mtimeMs > 1_000 && !readFileSync(file, 'utf8').includes('require("@netloom/');
  return waitFor(() => ready(MAIN) && ready(CONTROLLER_MAIN), timeoutMs, 250, 'a complete dist/ (npm run build)');
}

/** A real agent process (dist/apps/agent/src/main.js) with its stderr captured line by line. */
export class AgentProcess {
  private readonly output = new OutputLines();
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();

  private constructor(readonly options: AgentStartOptions) {}

  static async start(options: AgentStartOptions): Promise<AgentProcess> {
    if (!PREFIX.test(options.prefix)) throw new Error(`bad agent prefix ${options.prefix}`);
    const agent = new AgentProcess(options);
    await agent.spawn();
    return agent;
  }

  /** Every output line of every run of this agent, oldest first. */
  get lines(): string[] {
    return this.output.lines;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Whether the process of the current run is alive. */
  get running(): boolean {
    const child = this.child;
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  }

  /** The last `n` output lines, for failure messages. */
  tail(n = 30): string {
    return this.lines.slice(-n).join('\n');
  }

  /** Index into `lines` where the next line will go: pass it to waitForLog/linesSince. */
  mark(): number {
    return this.lines.length;
  }

  linesSince(mark: number): string[] {
    return this.lines.slice(mark);
  }

  /** Resolves with the first line (from index `since` on) matching `pattern`. */
  waitForLog(pattern: RegExp, timeoutMs: number, since = 0): Promise<string> {
    return this.output.waitFor(pattern, timeoutMs, since, 'the agent');
  }

  /** SIGKILL, and wait for the exit. */
  async kill9(): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    child.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM (SIGKILL after 5 s), and wait for the exit. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await this.exited;
    clearTimeout(timer);
  }

  /** Starts the process again with the same arguments (stopping the current one first). */
  async restart(): Promise<void> {
    await this.stop();
    await this.spawn();
  }

  /** Spawns the process; resolves once it runs. */
  private async spawn(): Promise<void> {
    await waitForDist();
    const o = this.options;
    const args = [MAIN, '--controller', o.controllerUrl, '--prefix', o.prefix, '--state-dir', o.stateDir, '--resync-ms', String(o.resyncMs ?? 2_000)];
    if (o.joinToken) args.push('--join-token', o.joinToken);
    if (o.joinTokenFile) args.push('--join-token-file', o.joinTokenFile);
    args.push(...(o.extraArgs ?? []));
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.exited = new Promise((done) => child.once('exit', () => done()));
    const push = (line: string): void => this.output.push(line);
    createInterface({ input: child.stderr }).on('line', push);
    createInterface({ input: child.stdout }).on('line', (line) => push(`[stdout] ${line}`));
    child.once('exit', (code, signal) => push(`[exit] pid ${child.pid} code ${code} signal ${signal}`));
    await new Promise<void>((done, fail) => {
      child.once('spawn', () => done());
      child.once('error', fail);
    });
  }
}

/** `promise`, with the agent's last output lines added to its failure. */
export async function withAgentOutput<T>(agent: AgentProcess | undefined, promise: Promise<T>): Promise<T> {
  try {
    return await promise;
  } catch (error) {
    if (error instanceof Error && agent) error.message += `\nagent output (last lines):\n${agent.tail()}`;
    throw error;
  }
}

/** Names of the network namespaces (`ip netns list`). */
export async function netnsList(): Promise<string[]> {
  const out = await runOk('ip', ['netns', 'list']);
  return out
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[0])
    .filter((name) => name);
}

export interface Link {
  ifname: string;
  ifindex: number;
  master?: string;
  operstate?: string;
  flags?: string[];
  linkinfo?: { info_kind?: string };
}

/** Links of the root namespace (`ip -json -details link show`). */
export async function links(): Promise<Link[]> {
  return JSON.parse((await runOk('ip', ['-json', '-details', 'link', 'show'])) || '[]') as Link[];
}

/** The links an agent with `prefix` owns, by name: bridges `<P>b<8hex>`, VXLAN devices `<P>x<8hex>`, VLAN subinterfaces `<P>u<8hex>` and veths `<P>v<8hex>`. */
export const ownedLinkPattern = (prefix: string): RegExp => new RegExp(`^${prefix}[bvxu][0-9a-f]{8}$`);

/**
 * Removes what an agent with `prefix` may have made: namespaces named `<prefix>-…`, links
 * matching {@link ownedLinkPattern} and its nft tables (port security, plugins), each by exact name. Returns the names removed. Stop the
 * agent first, or it will put them back.
 */
export async function cleanupKernel(prefix: string): Promise<string[]> {
  if (!PREFIX.test(prefix)) throw new Error(`refusing to clean up with prefix ${JSON.stringify(prefix)}`);
  const removed: string[] = [];
  for (const ns of await netnsList()) {
    if (!ns.startsWith(`${prefix}-`)) continue;
    if ((await run('ip', ['netns', 'delete', ns])).code === 0) removed.push(ns);
  }
  const pattern = ownedLinkPattern(prefix);
  // Veths and VXLAN devices before bridges; a veth may already be gone with its namespace.
  const owned = (await links()).filter((l) => pattern.test(l.ifname));
  owned.sort((a, b) => Number(a.linkinfo?.info_kind === 'bridge') - Number(b.linkinfo?.info_kind === 'bridge'));
  for (const link of owned) {
    if ((await run('ip', ['link', 'delete', 'dev', link.ifname])).code === 0) removed.push(link.ifname);
  }
  for (const table of await ownTables(prefix)) if ((await run('nft', ['delete', 'table', ...table.split(' ')])).code === 0) removed.push(`nft table ${table}`);
  return removed;
}

/**
 * The nft tables of an agent with `prefix` in this namespace, as `family name`: its port-security
 * table (`<P>_portsec`) and its plugins' (`<P>_<3 hex>`, e.g. the firewall's, one per host).
 */
async function ownTables(prefix: string): Promise<string[]> {
  const listed = (await run('nft', ['list', 'tables'])).stdout.split('\n');
  const name = new RegExp(`^table (inet|bridge) (${prefix}_(portsec|[0-9a-f]{3}))$`);
  return listed.flatMap((line) => {
    const m = name.exec(line.trim());
    return m ? [`${m[1]} ${m[2]}`] : [];
  });
}

/** What is left of an agent's names: namespaces and links with `prefix`, and its nft tables (port security, plugins). */
export async function leftovers(prefix: string): Promise<string[]> {
  const pattern = ownedLinkPattern(prefix);
  const ns = (await netnsList()).filter((n) => n.startsWith(`${prefix}-`));
  const ls = (await links()).filter((l) => pattern.test(l.ifname)).map((l) => l.ifname);
  const tables = (await ownTables(prefix)).map((t) => `nft table ${t}`);
  return [...ns, ...ls, ...tables];
}
