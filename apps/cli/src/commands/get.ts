import { Command, Option } from 'commander';
import { stringify } from 'yaml';
import { findByName, resolveKind } from '../kinds/registry';
import { parseSelector } from '../output/status';
import { formatTable } from '../output/table';
import { connect, print } from './connect';

interface GetOptions {
  output?: 'json' | 'yaml' | 'wide';
  selector?: string;
}

export const outputOption = (): Option => new Option('-o, --output <format>', 'json, yaml, or wide (more columns)').choices(['json', 'yaml', 'wide']);

export function getCommand(): Command {
  return new Command('get')
    .description('list objects of a kind (hosts, networks, subnets, ports, or a plugin kind: routers, load-balancers…), or one by name')
    .argument('<kind>', 'the kind, singular or plural')
    .argument('[name]', 'one object by name')
    .addOption(outputOption())
    .option('-l, --selector <labels>', 'only objects with these labels: key=value[,key=value]')
    .action(async (word: string, name: string | undefined, options: GetOptions, command: Command) => {
      const client = connect(command);
      const kind = await resolveKind(client, word);
      const objects = name !== undefined ? [await findByName(client, kind, name)] : await kind.list(client, { labels: parseSelector(options.selector) });
      const data = name !== undefined ? objects[0] : objects;
      if (options.output === 'json') return print(JSON.stringify(data, null, 2));
      if (options.output === 'yaml') return print(stringify(data));
      if (objects.length === 0) return print(`No ${kind.listField} found.`);
      const table = kind.table(objects, options.output === 'wide');
      print(formatTable(table.headers, table.rows));
    });
}
