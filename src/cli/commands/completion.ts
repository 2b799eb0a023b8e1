import type { Command } from "../command.js";
import { UsageError } from "../command.js";
import { bashCompletion, zshCompletion } from "../completion-script.js";
import { commands } from "./index.js";

export const completionCommand: Command = {
  name: "completion",
  summary: "print a shell completion script (bash or zsh)",
  usage: "apiary completion bash|zsh",
  description: "bash: source <(apiary completion bash)   zsh: source <(apiary completion zsh)",
  flags: [],
  async run({ positionals }) {
    const shell = positionals[0];
    if (positionals.length !== 1 || (shell !== "bash" && shell !== "zsh")) {
      throw new UsageError("apiary completion: give one shell, bash or zsh");
    }
    process.stdout.write(shell === "bash" ? bashCompletion(commands) : zshCompletion(commands));
    return 0;
  },
};
