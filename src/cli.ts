import { CliError, UsageError, type Command } from "./cli/command.js";
import { parseFlags } from "./cli/parse-flags.js";
import { commandHelp, mainHelp } from "./cli/help.js";
import { APIARY_VERSION } from "./common/version.js";
import { commands } from "./cli/commands/index.js";
import { WrongServerError } from "./cli/rpc-client.js";
import { wrongServerMessage } from "./cli/server-identity.js";
import { exitQuietlyOnClosedOutput } from "./cli/closed-output.js";
import { LogFormatError } from "./common/logger.js";
import { ClientConfigError } from "./client/client-config.js";

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === "--help" || name === "-h") {
    process.stdout.write(mainHelp(commands));
    return name === undefined ? 2 : 0;
  }
  if (name === "help") {
    if (args.length === 0) {
      process.stdout.write(mainHelp(commands));
      return 0;
    }
    process.stdout.write(commandHelp(findCommand(args[0])));
    return 0;
  }
  if (name === "--version" || name === "version") {
    process.stdout.write(`apiary ${APIARY_VERSION}\n`);
    return 0;
  }
  const command = findCommand(name);
  const parsed = parseFlags(command.name, command.flags, args);
  if (parsed.flags.help) {
    process.stdout.write(commandHelp(command));
    return 0;
  }
  try {
    return await command.run(parsed);
  } catch (err) {
    // Value parsers name the flag; the command's name goes in front here, once for all of them.
    if (err instanceof UsageError && !err.message.startsWith("apiary")) {
      throw new UsageError(`apiary ${command.name}: ${err.message}`);
    }
    if (err instanceof WrongServerError) throw new CliError(await wrongServerMessage(err.wanted, err.url));
    if (err instanceof LogFormatError) throw new UsageError(`apiary ${command.name}: ${err.message}`);
    throw err;
  }
}

function findCommand(name: string): Command {
  const command = commands.find((c) => c.name === name);
  if (!command) throw new UsageError(`apiary: unknown command ${name} (see apiary --help)`);
  return command;
}

exitQuietlyOnClosedOutput();
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`${err.message}\n`);
      process.exitCode = 2;
    } else if (err instanceof CliError || err instanceof ClientConfigError) {
      process.stderr.write(`apiary: ${err.message}\n`);
      process.exitCode = 1;
    } else {
      process.stderr.write(`apiary: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    }
  },
);
