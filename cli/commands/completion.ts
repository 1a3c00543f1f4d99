import { Argument, type Command } from 'commander';
import { examples } from './context.ts';

/** Every command path ("", "task", "task list") with the words that may follow it. */
function wordsByPath(root: Command): Map<string, string[]> {
  const map = new Map<string, string[]>();
  const globals = root.options.map((o) => o.long).filter((l): l is string => Boolean(l));
  const walk = (command: Command, path: string) => {
    const options = command === root ? [] : command.options.map((o) => o.long).filter((l): l is string => Boolean(l));
    map.set(path, [...command.commands.map((c) => c.name()), ...options, ...globals, '--help']);
    for (const sub of command.commands) walk(sub, path ? `${path} ${sub.name()}` : sub.name());
  };
  walk(root, '');
  return map;
}

const quote = (text: string) => `"${text.replace(/(["\\$`])/g, '\\$1')}"`;

export function bashCompletion(root: Command): string {
  const name = root.name();
  const fn = `_${name.replace(/[^A-Za-z0-9]/g, '_')}`;
  // bash refuses an empty key, so every path starts with "@" (the root itself is "@")
  const entries = [...wordsByPath(root)].map(([path, words]) => `    [${quote(path ? `@ ${path}` : '@')}]=${quote(words.join(' '))}`).join('\n');
  return `# ${name} completion for bash; load with: source <(${name} completion bash)
${fn}() {
  local -A words=(
${entries}
  )
  local cur="\${COMP_WORDS[COMP_CWORD]}" path="@" w candidate
  for w in "\${COMP_WORDS[@]:1:COMP_CWORD-1}"; do
    candidate="$path $w"
    [[ -n "\${words[$candidate]+x}" ]] && path="$candidate"
  done
  if [[ "\${COMP_WORDS[COMP_CWORD-1]}" == "-f" || "\${COMP_WORDS[COMP_CWORD-1]}" == "--filename" || "\${COMP_WORDS[COMP_CWORD-1]}" == "--file" ]]; then
    COMPREPLY=( $(compgen -f -- "$cur") )
    return
  fi
  COMPREPLY=( $(compgen -W "\${words[$path]}" -- "$cur") )
}
complete -o default -F ${fn} ${name}
`;
}

export function zshCompletion(root: Command): string {
  // zsh runs the bash function through bashcompinit: one definition of the command tree for both shells
  return `#compdef ${root.name()}
# ${root.name()} completion for zsh; load with: source <(${root.name()} completion zsh)
autoload -U +X compinit && compinit
autoload -U +X bashcompinit && bashcompinit
${bashCompletion(root)}`;
}

export function registerCompletionCommand(program: Command): void {
  examples(
    program
      .command('completion')
      .description('print a shell completion script')
      .addArgument(new Argument('<shell>', 'the shell').choices(['bash', 'zsh'])),
    'source <(scheduler-cli completion bash)          # this shell',
    'scheduler-cli completion bash > /etc/bash_completion.d/scheduler-cli',
    'scheduler-cli completion zsh > "${fpath[1]}/_scheduler-cli"',
  ).action((shell: 'bash' | 'zsh') => {
    process.stdout.write(shell === 'bash' ? bashCompletion(program) : zshCompletion(program));
  });
}
