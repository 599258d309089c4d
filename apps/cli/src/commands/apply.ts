import { Command } from 'commander';
import { applyPlan, planSteps, prepare } from '../apply/apply-run';
import { formatHostPlans } from '../apply/host-plan';
import { formatPlan } from '../apply/plan';
import { CliError } from '../errors';
import { PlanDocument } from '../generated/graphql';
import { connect, print } from './connect';

interface FileOptions {
  file: string;
  prune: boolean;
  owner?: string;
}

const fileCommand = (name: string, description: string): Command =>
  new Command(name)
    .description(description)
    .requiredOption('-f, --file <file>', 'the topology file (YAML: owner, then a list per kind, objects by name)')
    .option('--prune', 'also delete the objects this owner created that the file no longer names', false)
    .option('--owner <name>', `the owner marked on what it creates (label netloom.io/applied-by; default: the file's owner, else its base name)`);

export function diffCommand(): Command {
  return fileCommand('diff', 'show what apply would create, change (field by field) and delete; exit 0: nothing differs, 1: differences, 2: error')
    .option('--hosts', "then show what each affected host's agent would run (the controller's plan query: the changes run in a transaction rolled back, through the agents' planner)", false)
    .addHelpText('after', '\nExit codes as diff(1): 0 when the API matches the file, 1 when it differs, 2 on an error (a bad file, a name not found…).')
    .action(async (options: FileOptions & { hosts: boolean }, command: Command) => {
      try {
        const client = connect(command);
        const prepared = await prepare(client, options.file, options);
        print(formatPlan(prepared.plan));
        if (options.hosts && prepared.plan.changes.length) print(formatHostPlans((await client.request(PlanDocument, { steps: planSteps(prepared) })).plan));
        if (prepared.plan.changes.length) process.exitCode = 1;
      } catch (error) {
        throw new CliError(error instanceof Error ? error.message : String(error), 2);
      }
    });
}

export function applyCommand(): Command {
  return fileCommand('apply', 'make the API match a topology file: create and update in dependency order, at the generations read (a concurrent change is a CONFLICT)')
    .option('--wait', 'wait until every affected host applied each change; show each host; a FAILED host is an error with its reason', false)
    .action(async (options: FileOptions & { wait: boolean }, command: Command) => {
      const client = connect(command);
      const prepared = await prepare(client, options.file, options);
      await applyPlan(client, prepared, { wait: options.wait, print });
    });
}
