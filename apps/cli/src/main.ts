#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CommanderError } from 'commander';
import { CliError } from './errors';
import { buildProgram } from './program';

const version = (JSON.parse(readFileSync(join(__dirname, '../../../../package.json'), 'utf8')) as { version: string }).version;

async function main(): Promise<void> {
  const program = buildProgram(version).exitOverride();
  try {
    await program.parseAsync(process.argv);
    // A command may have set its own (diff: 1 when something differs).
    process.exitCode ??= 0;
  } catch (error) {
    // Commander already printed help, a version or a usage error.
    if (error instanceof CommanderError) {
      process.exitCode = error.exitCode;
      return;
    }
    process.stderr.write(`error: ${error instanceof CliError ? error.message : error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = error instanceof CliError ? error.exitCode : 1;
  }
}

void main().then(() => process.exit());
