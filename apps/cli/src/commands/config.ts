import { Command } from 'commander';
import { configPath, readConfig, useContext, writeConfig } from '../config/contexts';
import { formatTable } from '../output/table';
import { print } from './connect';

export function configCommand(): Command {
  const config = new Command('config').description('the contexts stored by login ($NETLOOM_CONTEXTS or ~/.config/netloom/config.yaml)');
  config
    .command('get-contexts')
    .description('list the stored contexts; * marks the current one')
    .action(() => {
      const file = readConfig(configPath());
      print(
        formatTable(
          ['CURRENT', 'NAME', 'URL'],
          file.contexts.map((c) => [c.name === file.currentContext ? '*' : '', c.name, c.url]),
        ),
      );
    });
  config
    .command('use-context')
    .description('make a stored context the current one')
    .argument('<name>', 'the context')
    .action((name: string) => {
      const path = configPath();
      writeConfig(path, useContext(readConfig(path), name));
      print(`Switched to context "${name}"`);
    });
  config
    .command('current-context')
    .description('print the current context')
    .action(() => print(readConfig(configPath()).currentContext ?? '<none>'));
  return config;
}
