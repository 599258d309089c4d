import { Command } from 'commander';
import { buildProgram } from '../program';
import { bashCompletion, completionWords } from './completion';

describe('completion', () => {
  it('offers, after each command path, its subcommands and options, read from the command tree', () => {
    const words = completionWords(buildProgram('0.0.0'));
    expect(words.get('netloom')).toEqual(expect.arrayContaining(['login', 'config', 'get', 'describe', 'delete', 'watch', 'audit', 'completion', '--context', '--help']));
    expect(words.get('netloom audit')).toEqual(expect.arrayContaining(['-t', '--token-name', '--since', '--limit', '-o', '--output', '--diff']));
    expect(words.get('netloom config')).toEqual(expect.arrayContaining(['get-contexts', 'use-context', '--context']));
    expect(words.get('netloom get')).toEqual(expect.arrayContaining(['-o', '--output', '-l', '--selector', '--context', '--help']));
    expect(words.get('netloom delete')).toEqual(expect.arrayContaining(['--wait', '--cascade']));
    expect(words.get('netloom config use-context')).toEqual(expect.arrayContaining(['--help']));
  });

  it('follows a command added later with no change to the generator', () => {
    const program = new Command('tool');
    program.command('apply').option('-f, --file <file>');
    const script = bashCompletion(program);
    expect(script).toContain(`['tool apply']='-f --file --help'`);
    expect(script).toContain('complete -F _tool_complete tool');
  });
});
