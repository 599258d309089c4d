import { Command } from 'commander';
import type { Description } from '../kinds/kind';
import { findByName, resolveKind } from '../kinds/registry';
import { connect, print } from './connect';

/** Aligned `Field:  value` lines, then each section's title and its indented lines. */
export function formatDescription(d: Description): string {
  const width = Math.max(...d.fields.map(([label]) => label.length)) + 2;
  const lines = d.fields.map(([label, value]) => `${`${label}:`.padEnd(width)}${value}`);
  for (const section of d.sections) lines.push(`${section.title}:`, ...section.lines.map((l) => `  ${l}`));
  return lines
    .join('\n')
    .split('\n')
    .map((l) => l.trimEnd())
    .join('\n');
}

export function describeCommand(): Command {
  return new Command('describe')
    .description('show one object: its fields, its status on each host with the reason of a failure, what agents observe, related objects')
    .argument('<kind>', 'the kind, singular or plural')
    .argument('<name>', 'the object')
    .action(async (word: string, name: string, _options: unknown, command: Command) => {
      const client = connect(command);
      const kind = await resolveKind(client, word);
      print(formatDescription(await kind.describe(client, await findByName(client, kind, name))));
    });
}
