import type { LoadedCommand as Command } from "./command.js";

/** Every word a command accepts as a flag, long and short, including --help. */
function flagWords(cmd: Command): string[] {
  const words = ["--help", "-h"];
  for (const f of cmd.flags) {
    words.push(`--${f.name}`);
    if (f.short) words.push(`-${f.short}`);
  }
  return words;
}

/** A bash completion script generated from the command table, so it cannot drift from the CLI. */
export function bashCompletion(commands: Command[]): string {
  const names = [...commands.map((c) => c.name), "help", "version"].join(" ");
  const cases = commands.map((c) => `    ${c.name}) flags="${flagWords(c).join(" ")}" ;;`).join("\n");
  return `# bash completion for apiary; load with: source <(apiary completion bash)
_apiary() {
  local cur="\${COMP_WORDS[COMP_CWORD]}"
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=( $(compgen -W "${names} --help --version" -- "$cur") )
    return 0
  fi
  local flags=""
  case "\${COMP_WORDS[1]}" in
${cases}
    help) COMPREPLY=( $(compgen -W "${commands.map((c) => c.name).join(" ")}" -- "$cur") ); return 0 ;;
  esac
  case "$cur" in
    -*) COMPREPLY=( $(compgen -W "$flags" -- "$cur") ) ;;
    *) COMPREPLY=() ;;
  esac
  return 0
}
complete -o default -F _apiary apiary
`;
}

function zshQuote(text: string): string {
  return text.replace(/'/g, "'\\''").replace(/[[\]:]/g, "\\$&");
}

/** A zsh completion script (compdef) generated from the command table. */
export function zshCompletion(commands: Command[]): string {
  const list = commands.map((c) => `    '${c.name}:${zshQuote(c.summary)}'`).join("\n");
  const cases = commands
    .map((c) => {
      const specs = c.flags.map((f) => `'--${f.name}[${zshQuote(f.help)}]${f.type === "string" ? ":value:" : ""}'`);
      return `    ${c.name}) _arguments '--help[show help]' ${specs.join(" ")} '*::arg:_files' ;;`;
    })
    .join("\n");
  return `#compdef apiary
# zsh completion for apiary; load with: source <(apiary completion zsh)
_apiary() {
  local -a cmds
  cmds=(
${list}
  )
  if (( CURRENT == 2 )); then
    _describe 'command' cmds
    return
  fi
  case "\${words[2]}" in
${cases}
  esac
}
if (( $+functions[compdef] )); then compdef _apiary apiary; fi
`;
}
