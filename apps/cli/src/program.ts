import { Command } from 'commander';
import { applyCommand, diffCommand } from './commands/apply';
import { auditCommand } from './commands/audit';
import { completionCommand } from './commands/completion';
import { configCommand } from './commands/config';
import { deleteCommand } from './commands/delete';
import { describeCommand } from './commands/describe';
import { getCommand } from './commands/get';
import { loginCommand } from './commands/login';
import { traceCommand } from './commands/trace';
import { watchCommand } from './commands/watch';

/** The command tree: one module per command, so new ones (apply, diff, trace, audit) slot in. */
export function buildProgram(version: string): Command {
  const program = new Command('netloom')
    .description('drive a NetLoom controller through its GraphQL API')
    .version(version)
    .option('--context <name>', 'use this stored context instead of the current one')
    .showHelpAfterError()
    .addHelpText(
      'after',
      '\nEnvironment: NETLOOM_CONTEXTS (the contexts file), NETLOOM_URL and NETLOOM_TOKEN (override the context).',
    );
  for (const command of [loginCommand(), configCommand(), getCommand(), describeCommand(), deleteCommand(), watchCommand(), diffCommand(), applyCommand(), traceCommand(), auditCommand(), completionCommand(program)]) {
    program.addCommand(command);
  }
  return program;
}
