import { Command } from 'commander';
import { findByName, resolveKind } from '../kinds/registry';
import { connect, print } from './connect';

export function deleteCommand(): Command {
  return new Command('delete')
    .description('delete one object by name (at the generation just read: a concurrent change is a CONFLICT)')
    .argument('<kind>', 'the kind, singular or plural')
    .argument('<name>', 'the object')
    .option('--wait', 'return once every affected host has applied the deletion', false)
    .option('--cascade', 'also delete what depends on it (hosts, networks)', false)
    .action(async (word: string, name: string, options: { wait: boolean; cascade: boolean }, command: Command) => {
      const client = connect(command);
      const kind = await resolveKind(client, word);
      const object = await findByName(client, kind, name);
      const result = await kind.delete(client, object, options);
      const others = result.deletedIds.length - 1;
      print(`${kind.typeName} "${name}" deleted${others > 0 ? ` with ${others} dependent object(s)` : ''} (revision ${result.revision})`);
    });
}
