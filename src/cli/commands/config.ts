import path from "node:path";
import { CliError, UsageError, defineCommand, defineFlags, type FlagValues } from "../command.js";
import { configPath, readClientConfig, writeClientConfig, type ContextSettings } from "../../client/client-config.js";
import { durationFlag } from "../parse-values.js";
import { renderTable } from "../table.js";
import { loadYaml } from "../../common/load-yaml.js";

const USAGE = [
  "apiary config use-context NAME",
  "apiary config set-context NAME [--queen ADDR] [--ca FILE] [--cert FILE] [--key FILE] [--token-file FILE] [--request-timeout DUR]",
  "apiary config get-contexts | current-context | view | delete-context NAME",
].join("\n       ");

const configFlags = defineFlags([
  { name: "queen", type: "string", value: "ADDR", help: "queen address (set-context)" },
  { name: "ca", type: "string", value: "FILE", help: "CA bundle (set-context)" },
  { name: "cert", type: "string", value: "FILE", help: "client certificate (set-context)" },
  { name: "key", type: "string", value: "FILE", help: "client key (set-context)" },
  { name: "token-file", type: "string", value: "FILE", help: "file holding a bearer token (set-context)" },
  { name: "request-timeout", type: "string", value: "DUR", help: "deadline of each call (set-context)" },
]);

export const configCommand = defineCommand({
  name: "config",
  usage: USAGE,
  description: [
    "The file is $APIARY_CONFIG, else $XDG_CONFIG_HOME/apiary/config.yaml (~/.config/apiary/config.yaml).",
    "Every command that talks to a queen reads its settings from the current context (or --context NAME);",
    "a flag wins over its APIARY_* variable, which wins over the context, which wins over the default.",
  ].join("\n"),
  flags: configFlags,
  async run({ positionals, flags }) {
    const [sub, ...rest] = positionals;
    const file = configPath();
    switch (sub) {
      case "use-context":
        return useContext(file, one(rest, sub));
      case "set-context":
        return setContext(file, one(rest, sub), flags);
      case "delete-context":
        return deleteContext(file, one(rest, sub));
      case "get-contexts":
        return getContexts(file);
      case "current-context": {
        const current = (await readClientConfig(file))["current-context"];
        if (!current) throw new CliError(`no current context in ${file}`);
        process.stdout.write(`${current}\n`);
        return 0;
      }
      case "view":
        process.stdout.write((await loadYaml()).stringify(await readClientConfig(file)));
        return 0;
      default:
        throw new UsageError(`apiary config: expected use-context, set-context, get-contexts, current-context, view or delete-context`);
    }
  },
});

function one(rest: string[], sub: string): string {
  if (rest.length !== 1) throw new UsageError(`apiary config ${sub}: give exactly one context NAME`);
  return rest[0];
}

async function useContext(file: string, name: string): Promise<number> {
  const config = await readClientConfig(file);
  if (!config.contexts[name]) {
    const known = Object.keys(config.contexts);
    throw new CliError(`no context ${name} in ${file} (${known.length > 0 ? `known: ${known.join(", ")}` : "none yet: apiary config set-context NAME --queen ADDR …"})`);
  }
  config["current-context"] = name;
  await writeClientConfig(config, file);
  process.stdout.write(`switched to context ${name}\n`);
  return 0;
}

async function setContext(file: string, name: string, flags: FlagValues<typeof configFlags>): Promise<number> {
  if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new UsageError(`context name ${name}: use letters, digits, ".", "-" and "_"`);
  const config = await readClientConfig(file);
  const settings: ContextSettings = { ...(config.contexts[name] ?? {}) };
  const keys = ["queen", "ca", "cert", "key", "token-file", "request-timeout"] as const;
  for (const key of keys) {
    const value = flags[key];
    if (value === undefined) continue;
    if (key === "request-timeout") durationFlag(key, value);
    // Paths are stored absolute: the file is read from any directory.
    settings[key] = key === "queen" || key === "request-timeout" || value === "" ? value : path.resolve(value);
  }
  config.contexts[name] = settings;
  config["current-context"] ??= name;
  await writeClientConfig(config, file);
  process.stdout.write(`context ${name} saved in ${file}${config["current-context"] === name ? " (current)" : ""}\n`);
  return 0;
}

async function deleteContext(file: string, name: string): Promise<number> {
  const config = await readClientConfig(file);
  if (!config.contexts[name]) throw new CliError(`no context ${name} in ${file}`);
  delete config.contexts[name];
  if (config["current-context"] === name) delete config["current-context"];
  await writeClientConfig(config, file);
  process.stdout.write(`deleted context ${name}\n`);
  return 0;
}

async function getContexts(file: string): Promise<number> {
  const config = await readClientConfig(file);
  const rows = Object.entries(config.contexts).map(([name, s]) => {
    const auth = [s.cert ? "cert" : "", s.token || s["token-file"] ? "token" : ""].filter(Boolean).join("+") || "none";
    return [config["current-context"] === name ? "*" : "", name, s.queen ?? "127.0.0.1:7833", s.ca ? "yes" : "system", auth];
  });
  process.stdout.write(renderTable(["CURRENT", "NAME", "QUEEN", "CA", "AUTH"], rows));
  return 0;
}
