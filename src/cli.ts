import { CliError, UsageError, type CommandEntry, type LoadedCommand } from "./cli/command.js";
import { parseFlags } from "./cli/parse-flags.js";
import { commandHelp, mainHelp } from "./cli/help.js";
import { commands } from "./cli/commands/index.js";
import { exitQuietlyOnClosedOutput } from "./cli/closed-output.js";
import { installLightHeaders } from "./cli/light-headers.js";

// Only the command table is imported up front: each command's code (and the RPC stack, the protobuf
// descriptors, pino) loads when that command runs, so `apiary --help` starts in a few milliseconds.
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
    if (args[0] === "--markdown") {
      const { cliReference } = await import("./cli/cli-reference.js");
      process.stdout.write(await cliReference(commands));
      return 0;
    }
    process.stdout.write(commandHelp(await loadCommand(findCommand(args[0]))));
    return 0;
  }
  if (name === "--version" || name === "version") {
    const { APIARY_VERSION } = await import("./common/version.js");
    process.stdout.write(`apiary ${APIARY_VERSION}\n`);
    return 0;
  }
  const entry = findCommand(name);
  if (entry.lightHeaders) installLightHeaders();
  const command = await loadCommand(entry);
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
    // The command loaded these modules already: importing them here costs nothing.
    const { WrongServerError } = await import("./cli/rpc-client.js");
    if (err instanceof WrongServerError) {
      const { wrongServerMessage } = await import("./cli/server-identity.js");
      throw new CliError(await wrongServerMessage(err.wanted, err.url));
    }
    const { LogFormatError } = await import("./common/log-format-error.js");
    if (err instanceof LogFormatError) throw new UsageError(`apiary ${command.name}: ${err.message}`);
    throw err;
  }
}

function findCommand(name: string): CommandEntry {
  const entry = commands.find((c) => c.name === name);
  if (!entry) throw new UsageError(`apiary: unknown command ${name} (see apiary --help)`);
  return entry;
}

async function loadCommand(entry: CommandEntry): Promise<LoadedCommand> {
  return { ...(await entry.load()), name: entry.name, summary: entry.summary };
}

exitQuietlyOnClosedOutput();
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  async (err: unknown) => {
    const { ClientConfigError } = await import("./client/client-config.js");
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
