import { isIP } from 'node:net';
import { Command, Option } from 'commander';
import type { ApiClient } from '../api/client';
import { CliError } from '../errors';
import { TraceDocument, type TraceInput, type TraceMutation } from '../generated/graphql';
import { findByName, resolveKind } from '../kinds/registry';
import { connect, print } from './connect';

type Trace = TraceMutation['trace'];

/** Exit codes: the probe was answered, it was not, the trace could not run. */
export const TRACE_EXIT = { DELIVERED: 0, DROPPED: 1, NO_ANSWER: 1, ERROR: 2 } as const;

/** The trace as lines: what was probed, each hop, the rules and member whose counters moved, the verdict. */
export function formatTrace(t: Trace): string {
  const what = t.protocol === 'TCP' ? `TCP ${t.port}` : 'ICMP echo';
  const lines = [`trace ${t.fromPort} → ${t.address} (${t.target}), ${what}`, ''];
  t.hops.forEach((h, i) => lines.push(`${String(i + 1).padStart(3)}. ${h.kind.padEnd(13)} ${h.name}${h.host ? ` @ ${h.host}` : ''}: ${h.detail}`));
  lines.push('', `probe: ${t.probe.ok ? 'answered' : 'no answer'} (${t.probe.detail}, ${t.probe.ms} ms)`);
  for (const r of t.rules) {
    const which = r.rule === null ? `default ${r.direction ?? ''}`.trim() : `rule ${r.rule}`;
    lines.push(`firewall: policy ${r.policyName} ${which} ${r.action}, ${r.packets} packet${r.packets === 1 ? '' : 's'} at port ${r.portName ?? '?'}${r.host ? ` @ ${r.host}` : ''}`);
  }
  if (t.member) lines.push(`member: ${t.member.name} (${t.member.address}:${t.member.port}${t.member.host ? ` @ ${t.member.host}` : ''})`);
  lines.push('', `verdict: ${t.verdict}: ${t.summary}`, `(${t.attribution})`);
  return lines.join('\n');
}

/** The destination as the API takes it: a port by name, an IPv4 address, or a load balancer by name. */
async function destination(client: ApiClient, to: string): Promise<Pick<TraceInput, 'toPortId' | 'toAddress' | 'toLoadBalancerId'>> {
  if (isIP(to) !== 0) return { toAddress: to };
  const ports = await resolveKind(client, 'port');
  const asPort = await ports.list(client, { name: to });
  if (asPort.length === 1) return { toPortId: asPort[0].id };
  const lbs = await resolveKind(client, 'load-balancer').catch(() => undefined);
  const asLb = lbs ? await lbs.list(client, { name: to }) : [];
  if (asLb.length === 1) return { toLoadBalancerId: asLb[0].id };
  throw new CliError(`"${to}" is neither a port, an IP address nor a load balancer`, TRACE_EXIT.ERROR);
}

function portNumber(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > 65535) throw new CliError(`--port ${text}: expected 1-65535`, TRACE_EXIT.ERROR);
  return n;
}

export function traceCommand(): Command {
  return new Command('trace')
    .description("send a real probe from a port's namespace and explain its path: hosts, overlay, router hops and NAT, the load-balancer member, the firewall rule, the verdict")
    .argument('<from>', 'the port the probe leaves from')
    .argument('<to>', 'a port, an IPv4 address, or a load balancer (its VIP)')
    .addOption(new Option('--proto <protocol>', 'icmp or tcp').choices(['icmp', 'tcp']).default('icmp'))
    .option('--port <n>', 'the destination port (tcp)')
    .option('--timeout <ms>', 'how long the probe waits for an answer', '2000')
    .addOption(new Option('-o, --output <format>', 'json').choices(['json']))
    .addHelpText('after', '\nExit status: 0 delivered, 1 dropped or no answer, 2 the trace could not run.')
    .action(async (fromName: string, to: string, options: { proto: 'icmp' | 'tcp'; port?: string; timeout: string; output?: 'json' }, command: Command) => {
      try {
        const client = connect(command);
        const from = await findByName(client, await resolveKind(client, 'port'), fromName);
        const timeoutMs = Number(options.timeout);
        if (!Number.isInteger(timeoutMs)) throw new CliError(`--timeout ${options.timeout}: expected milliseconds`, TRACE_EXIT.ERROR);
        const input: TraceInput = {
          fromPortId: from.id,
          ...(await destination(client, to)),
          protocol: options.proto === 'tcp' ? 'TCP' : 'ICMP',
          port: portNumber(options.port),
          timeoutMs,
        };
        const { trace } = await client.query<TraceMutation>(TraceDocument, { input });
        print(options.output === 'json' ? JSON.stringify(trace, null, 2) : formatTrace(trace));
        process.exitCode = TRACE_EXIT[trace.verdict];
      } catch (error) {
        // Whatever stopped the trace (a name, the API's refusal, the connection) is exit 2, not a verdict.
        if (error instanceof CliError && error.exitCode === TRACE_EXIT.ERROR) throw error;
        throw new CliError(error instanceof Error ? error.message : String(error), TRACE_EXIT.ERROR);
      }
    });
}
