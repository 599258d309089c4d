import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import { ApiClient } from '../api/client';
import { configPath, readConfig, withContext, writeConfig } from '../config/contexts';
import { CliError } from '../errors';
import { MeDocument } from '../generated/graphql';
import { print } from './connect';

interface LoginOptions {
  url: string;
  token?: string;
  tokenFile?: string;
  ca?: string;
  context?: string;
}

export function loginCommand(): Command {
  return new Command('login')
    .description('check a token against a controller (a `me` query) and store it as a context, made current')
    .requiredOption('--url <url>', 'the controller GraphQL URL, e.g. https://ctl.example:8080/graphql')
    .addOption(new Option('--token <token>', 'the API token (visible to ps: prefer --token-file)').conflicts('tokenFile'))
    .option('--token-file <file>', 'a file holding the API token')
    .option('--ca <file>', 'PEM file of the CA that signed the controller certificate')
    .addHelpText('after', '\nThe context is named by the global --context (default: the URL host).')
    .action(async (_options: LoginOptions, command: Command) => {
      const options = command.optsWithGlobals<LoginOptions>();
      const token = options.tokenFile ? readFileSync(options.tokenFile, 'utf8').trim() : options.token;
      if (!token) throw new CliError('give the token with --token-file FILE or --token TOKEN');
      let url: URL;
      try {
        url = new URL(options.url);
      } catch {
        throw new CliError(`--url: "${options.url}" is not a URL`);
      }
      const name = options.context ?? url.host;
      const me = (await new ApiClient({ url: url.href, token, ca: options.ca }).request(MeDocument, {})).me;
      const path = configPath();
      writeConfig(path, withContext(readConfig(path), { name, url: url.href, token, ...(options.ca ? { ca: resolve(options.ca) } : {}) }));
      print(`Logged in to ${url.href} as ${me.name} (${me.role}); context "${name}" is current (${path})`);
    });
}
