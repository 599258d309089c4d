import { isIP } from 'node:net';
import type { Linux } from '@netloom/linux';
import { ProbeHelpers } from '@netloom/plugin-sdk';
import { COUNTED_RULE_PREFIX, type ProbeMessage, type ProbeResultMessage, type ProbeScope, type ProbeSend } from '@netloom/protocol';

type NftItem = Record<string, Record<string, unknown> | undefined>;

/**
 * Packets per rule comment starting with {@link COUNTED_RULE_PREFIX}, summed over the rules that
 * carry it, from `nft -j list ruleset`: a rule's own counter, or the named counter it uses (looked
 * up in its table). Rules without a counter count 0; the layout of the tables does not matter.
 */
export function countedRules(ruleset: unknown): Record<string, number> {
  const items = ((ruleset as { nftables?: NftItem[] } | null)?.nftables ?? []).filter((i) => typeof i === 'object' && i !== null);
  const named = new Map<string, number>();
  for (const item of items) {
    const c = item.counter;
    if (c && typeof c.name === 'string') named.set(`${String(c.family)} ${String(c.table)} ${c.name}`, Number(c.packets) || 0);
  }
  const out: Record<string, number> = {};
  for (const item of items) {
    const rule = item.rule;
    if (!rule || typeof rule.comment !== 'string' || !rule.comment.startsWith(COUNTED_RULE_PREFIX)) continue;
    let packets = 0;
    for (const expr of Array.isArray(rule.expr) ? (rule.expr as Record<string, unknown>[]) : []) {
      const counter = expr?.counter;
      if (typeof counter === 'string') packets += named.get(`${String(rule.family)} ${String(rule.table)} ${counter}`) ?? 0;
      else if (counter && typeof counter === 'object') packets += Number((counter as { packets?: unknown }).packets) || 0;
    }
    out[rule.comment] = (out[rule.comment] ?? 0) + packets;
  }
  return out;
}

/** Why a probe cannot be sent as asked, or undefined. */
export function badSend(send: ProbeSend): string | undefined {
  if (typeof send.address !== 'string' || send.address.includes('%') || isIP(send.address) === 0) return 'the address is not an IP address';
  if (send.protocol !== 'icmp' && send.protocol !== 'tcp') return `protocol ${String(send.protocol)} cannot be probed`;
  if (send.protocol === 'tcp' && (!Number.isInteger(send.port) || send.port! < 1 || send.port! > 65535)) return 'the port is not 1-65535';
  if (!Number.isInteger(send.timeoutMs) || send.timeoutMs < 100 || send.timeoutMs > 10_000) return 'the timeout is not 100-10000 ms';
  return undefined;
}

/** Where the agent finds the namespaces a probe names. */
export interface ProbePlaces {
  portNetns(portId: string): string | undefined;
  applianceNetns(pluginId: string, resourceId: string): string | undefined;
}

/**
 * The agent's answer to a trace's `probe`: reads the counted rules in each namespace asked, then
 * sends the probe from the port's namespace (ping, or a TCP connection through the probe helper).
 * Only namespaces of this agent's ports and plugins are touched; addresses and ports are checked.
 */
export class ProbeAnswerer {
  private readonly helpers: ProbeHelpers;
  /** TCP probes running per namespace: its helper ends when the last one is done. */
  private readonly running = new Map<string, number>();

  constructor(
    private readonly linux: Linux,
    private readonly places: ProbePlaces,
    log: (line: string) => void,
  ) {
    this.helpers = new ProbeHelpers(linux, log);
  }

  async answer(message: ProbeMessage): Promise<ProbeResultMessage> {
    const reply: ProbeResultMessage = { type: 'probe-result', id: message.id, counters: [] };
    const from = message.send && this.places.portNetns(message.send.portId);
    if (message.send) {
      const bad = from ? badSend(message.send) : `port ${message.send.portId} is not on this host`;
      if (bad) return { ...reply, error: bad };
    }
    // A table in the host namespace (one per host, e.g. the firewall's) counts for every port of
    // the host: its rules are added once, to the last port scope asked (the target when both ends are here).
    const lastPort = message.read.map((scope) => 'portId' in scope).lastIndexOf(true);
    reply.counters = await Promise.all(message.read.map((scope, i) => this.read(scope, i === lastPort)));
    if (message.send && from) reply.sent = await this.send(from, message.send);
    return reply;
  }

  close(): Promise<void> {
    return this.helpers.close();
  }

  private async read(scope: ProbeScope, withHost = false): Promise<ProbeResultMessage['counters'][number]> {
    const netns = 'portId' in scope ? this.places.portNetns(scope.portId) : this.places.applianceNetns(scope.pluginId, scope.resourceId);
    if (!netns) return { error: 'not on this host' };
    try {
      const [inside, onHost] = await Promise.all([this.linux.nftRuleset(netns), withHost ? this.linux.nftRuleset() : undefined]);
      const packets = countedRules(inside);
      for (const [comment, n] of Object.entries(countedRules(onHost ?? null))) packets[comment] = (packets[comment] ?? 0) + n;
      return { packets };
    } catch (error) {
      return { error: error instanceof Error ? error.message : String(error) };
    }
  }

  private async send(netns: string, send: ProbeSend): Promise<NonNullable<ProbeResultMessage['sent']>> {
    if (send.protocol === 'icmp') return this.linux.ping(netns, send.address, Math.max(1, Math.round(send.timeoutMs / 1000)));
    this.running.set(netns, (this.running.get(netns) ?? 0) + 1);
    try {
      return await this.helpers.probe(netns, { type: 'tcp', address: send.address, port: send.port!, timeoutMs: send.timeoutMs });
    } finally {
      // No helper is left running in the port's namespace once its traces are done.
      const left = this.running.get(netns)! - 1;
      if (left) this.running.set(netns, left);
      else {
        this.running.delete(netns);
        await this.helpers.end([netns]);
      }
    }
  }
}
