// TCP probes from inside a namespace: what servers answer, connection by connection.
import { netnsExec } from './commands';

// Runs inside a namespace (`node -e`): `count` TCP connections to ip:port one after another (or
// `parallel` at a time), each read to its end; prints a JSON list of what each server said, or
// `!<error>` for a connection that failed or timed out.
const ASK_SCRIPT = `
const net = require('node:net');
const [ip, port, count, parallel, timeoutMs] = process.argv.slice(1);
const one = () => new Promise((done) => {
  let data = '';
  const s = net.connect({ host: ip, port: Number(port) });
  const timer = setTimeout(() => { s.destroy(); done('!timeout'); }, Number(timeoutMs));
  s.setEncoding('utf8');
  s.on('data', (d) => { data += d; });
  s.on('error', (e) => { clearTimeout(timer); done('!' + (e.code || e.message)); });
  s.on('close', () => { clearTimeout(timer); done(data.trim()); });
});
(async () => {
  const out = new Array(Number(count));
  let next = 0;
  const worker = async () => { while (next < out.length) { const i = next++; out[i] = await one(); } };
  await Promise.all(Array.from({ length: Number(parallel) }, worker));
  process.stdout.write(JSON.stringify(out));
})();
`;

/**
 * `count` TCP connections from namespace `ns` to `ip`:`port`, each read until the server closes:
 * what each one answered, in order, or `!<error code>` (`!timeout` after `timeoutMs`).
 */
export async function askMany(ns: string, ip: string, port: number, count: number, opts: { parallel?: number; timeoutMs?: number } = {}): Promise<string[]> {
  const timeoutMs = opts.timeoutMs ?? 2_000;
  const parallel = Math.max(1, Math.min(opts.parallel ?? 1, count));
  const budget = 10_000 + Math.ceil(count / parallel) * timeoutMs;
  const r = await netnsExec(ns, [process.execPath, '-e', ASK_SCRIPT, ip, String(port), String(count), String(parallel), String(timeoutMs)], budget);
  if (r.code !== 0) throw new Error(`connections from ${ns} to ${ip}:${port} did not run (exit ${r.code}): ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as string[];
}

/** One TCP connection from `ns` to `ip`:`port`: what the server said, or '' when it failed. */
export async function askTcp(ns: string, ip: string, port: number, timeoutMs = 2_000): Promise<string> {
  const [answer] = await askMany(ns, ip, port, 1, { timeoutMs });
  return answer.startsWith('!') ? '' : answer;
}

/** How many times each answer came, failures (`!…`) included. */
export function tally(answers: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const a of answers) counts[a] = (counts[a] ?? 0) + 1;
  return counts;
}
