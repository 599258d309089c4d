// `node dist/libs/simhosts/src/cli.js clean --prefix P [--agent-prefix A]`: removes what a crashed
// run with prefix P left behind (its processes and namespaces).
import { SimulatedHosts } from './simulated-hosts';

const USAGE = 'usage: simhosts clean --prefix P [--agent-prefix A]';

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command !== 'clean') throw new Error(USAGE);
  const options: Record<string, string> = {};
  for (let i = 0; i < rest.length; i += 2) {
    const [flag, value] = [rest[i], rest[i + 1]];
    if ((flag !== '--prefix' && flag !== '--agent-prefix') || value === undefined) throw new Error(USAGE);
    options[flag] = value;
  }
  if (!options['--prefix']) throw new Error(USAGE);
  const { killed, namespaces } = await SimulatedHosts.removeStale(options['--prefix'], options['--agent-prefix']);
  process.stdout.write(`killed ${killed.length} process(es)${killed.length ? `: ${killed.join(' ')}` : ''}\n`);
  process.stdout.write(`removed ${namespaces.length} namespace(s)${namespaces.length ? `: ${namespaces.join(' ')}` : ''}\n`);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`simhosts: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
