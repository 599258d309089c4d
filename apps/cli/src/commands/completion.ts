import { Argument, Command, type Option } from 'commander';
import { print } from './connect';

/** The words offered after each command path (from the program's name): subcommands, then options. */
export function completionWords(program: Command): Map<string, string[]> {
  const words = new Map<string, string[]>();
  const flags = (options: readonly Option[]): string[] => options.flatMap((o) => [o.short, o.long].filter((f): f is string => !!f));
  const visit = (command: Command, path: string, inherited: string[]): void => {
    const own = flags(command.options);
    const subcommands = command.commands.map((c) => c.name());
    words.set(path, [...subcommands, ...own, ...inherited, '--help']);
    const global = command === program ? own.filter((f) => f !== '-V' && f !== '--version') : [];
    for (const sub of command.commands) visit(sub, `${path} ${sub.name()}`, [...inherited, ...global]);
  };
  visit(program, program.name(), []);
  return words;
}

const quote = (text: string): string => `'${text.replace(/'/g, `'\\''`)}'`;

/** A bash completion function over the command tree: it follows the words typed to a known command path. */
export function bashCompletion(program: Command): string {
  const name = program.name();
  const fn = `_${name.replace(/[^A-Za-z0-9_]/g, '_')}_complete`;
  const table = [...completionWords(program)].map(([path, words]) => `    [${quote(path)}]=${quote([...new Set(words)].join(' '))}`);
  return `# bash completion for ${name}; load with: source <(${name} completion bash)
${fn}() {
  local -A words=(
${table.join('\n')}
  )
  local cur="\${COMP_WORDS[COMP_CWORD]}" path=${quote(name)} next i
  for ((i = 1; i < COMP_CWORD; i++)); do
    next="\$path \${COMP_WORDS[i]}"
    [[ -v "words[\$next]" ]] && path="\$next"
  done
  COMPREPLY=($(compgen -W "\${words[\$path]}" -- "\$cur"))
}
complete -F ${fn} ${name}
`;
}

export function completionCommand(program: Command): Command {
  return new Command('completion')
    .description('print a shell completion script, e.g. source <(netloom completion bash)')
    .addArgument(new Argument('<shell>', 'bash (zsh loads it after: autoload bashcompinit; bashcompinit)').choices(['bash']))
    .action(() => print(bashCompletion(program)));
}
