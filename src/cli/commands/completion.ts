import { UsageError, defineCommand, loadCommands } from "../command.js";
import { bashCompletion, zshCompletion } from "../completion-script.js";
import { commands } from "./index.js";

export const completionCommand = defineCommand({
  name: "completion",
  usage: "apiary completion bash|zsh",
  description: "bash: source <(apiary completion bash)   zsh: source <(apiary completion zsh)",
  flags: [],
  async run({ positionals }) {
    const shell = positionals[0];
    if (positionals.length !== 1 || (shell !== "bash" && shell !== "zsh")) {
      throw new UsageError("apiary completion: give one shell, bash or zsh");
    }
    const all = await loadCommands(commands);
    process.stdout.write(shell === "bash" ? bashCompletion(all) : zshCompletion(all));
    return 0;
  },
});
