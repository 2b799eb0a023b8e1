import { CliError, UsageError, type Command } from "./cli/command.js";
import { parseFlags } from "./cli/parse-flags.js";
import { commandHelp, mainHelp } from "./cli/help.js";
import { APIARY_VERSION } from "./version.js";
import { commands } from "./cli/commands/index.js";

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    process.stdout.write(mainHelp(commands));
    return name === undefined ? 2 : 0;
  }
  if (name === "--version" || name === "version") {
    process.stdout.write(`apiary ${APIARY_VERSION}\n`);
    return 0;
  }
  const command: Command | undefined = commands.find((c) => c.name === name);
  if (!command) throw new UsageError(`apiary: unknown command ${name} (see apiary --help)`);
  const parsed = parseFlags(command.name, command.flags, args);
  if (parsed.flags.help) {
    process.stdout.write(commandHelp(command));
    return 0;
  }
  return command.run(parsed);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`${err.message}\n`);
      process.exitCode = 2;
    } else if (err instanceof CliError) {
      process.stderr.write(`apiary: ${err.message}\n`);
      process.exitCode = 1;
    } else {
      process.stderr.write(`apiary: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    }
  },
);
