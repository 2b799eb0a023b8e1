import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadYaml } from "../common/load-yaml.js";

/** A client config file that cannot be read or names no such context. */
export class ClientConfigError extends Error {}

/**
 * The CLI's config file, as a kubeconfig: named contexts, each a queen and how to reach it.
 *
 *   current-context: lab
 *   contexts:
 *     lab:
 *       queen: https://10.0.0.1:7833       # several queens: a list, or "a,b,c"
 *       ca: ~/apiary-pki/ca.crt          # relative paths are relative to this file
 *       cert: ~/apiary-pki/client-alice.crt
 *       key: ~/apiary-pki/client-alice.key
 *       token-file: ~/.apiary-token       # or token: apiary_…
 *       request-timeout: 10s
 */
export interface ContextSettings {
  queen?: string;
  ca?: string;
  cert?: string;
  key?: string;
  token?: string;
  "token-file"?: string;
  "request-timeout"?: string;
}

export interface ClientConfig {
  "current-context"?: string;
  contexts: Record<string, ContextSettings>;
}

const SETTING_KEYS: (keyof ContextSettings)[] = ["queen", "ca", "cert", "key", "token", "token-file", "request-timeout"];
const PATH_KEYS: (keyof ContextSettings)[] = ["ca", "cert", "key", "token-file"];

/** $APIARY_CONFIG, else $XDG_CONFIG_HOME/apiary/config.yaml, else ~/.config/apiary/config.yaml. */
export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.APIARY_CONFIG) return env.APIARY_CONFIG;
  const base = env.XDG_CONFIG_HOME || path.join(os.homedir(), ".config");
  return path.join(base, "apiary", "config.yaml");
}

/**
 * The config file's contents; an absent file is an empty config. The YAML parser is imported only
 * when there is a file to parse: most machines running `apiary workers` have none, and loading it
 * costs every such start.
 */
export async function readClientConfig(file = configPath()): Promise<ClientConfig> {
  if (!existsSync(file)) return { contexts: {} };
  const text = readFileSync(file, "utf8");
  const { parse } = await loadYaml();
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw new ClientConfigError(`${file}: ${(err as Error).message.split("\n")[0]}`);
  }
  return validateConfig(doc ?? {}, file);
}

function validateConfig(doc: unknown, file: string): ClientConfig {
  if (typeof doc !== "object" || Array.isArray(doc) || doc === null) throw new ClientConfigError(`${file}: expected a mapping with contexts`);
  const raw = doc as Record<string, unknown>;
  const current = raw["current-context"];
  if (current !== undefined && typeof current !== "string") throw new ClientConfigError(`${file}: current-context: expected a name`);
  const contexts: Record<string, ContextSettings> = {};
  const rawContexts = raw.contexts ?? {};
  if (typeof rawContexts !== "object" || Array.isArray(rawContexts) || rawContexts === null) throw new ClientConfigError(`${file}: contexts: expected a mapping of names`);
  for (const [name, value] of Object.entries(rawContexts as Record<string, unknown>)) {
    if (typeof value !== "object" || value === null || Array.isArray(value)) throw new ClientConfigError(`${file}: contexts.${name}: expected a mapping`);
    const settings: ContextSettings = {};
    for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
      if (!(SETTING_KEYS as string[]).includes(key)) throw new ClientConfigError(`${file}: contexts.${name}.${key}: unknown setting (one of ${SETTING_KEYS.join(", ")})`);
      if (key === "queen" && Array.isArray(v)) {
        if (v.length === 0 || v.some((q) => typeof q !== "string")) throw new ClientConfigError(`${file}: contexts.${name}.queen: expected an address or a list of addresses`);
        settings.queen = (v as string[]).join(",");
        continue;
      }
      if (typeof v !== "string" && typeof v !== "number") throw new ClientConfigError(`${file}: contexts.${name}.${key}: expected a string`);
      settings[key as keyof ContextSettings] = String(v);
    }
    contexts[name] = settings;
  }
  return { ...(current !== undefined ? { "current-context": current } : {}), contexts };
}

/** Writes the config (0600: it may hold tokens), through a temporary file and a rename. */
export async function writeClientConfig(config: ClientConfig, file = configPath()): Promise<void> {
  const { stringify } = await loadYaml();
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, stringify(config), { mode: 0o600 });
  renameSync(tmp, file);
}

/**
 * The settings of the selected context (`--context`/$APIARY_CONTEXT, else current-context), with
 * paths made absolute; undefined when no context is selected.
 */
export async function selectedContext(name: string | undefined, file = configPath()): Promise<{ name: string; settings: ContextSettings } | undefined> {
  const config = await readClientConfig(file);
  const wanted = name ?? config["current-context"];
  if (wanted === undefined) return undefined;
  const settings = config.contexts[wanted];
  if (!settings) {
    const known = Object.keys(config.contexts);
    throw new ClientConfigError(`context ${wanted} is not in ${file} (${known.length > 0 ? `known: ${known.join(", ")}` : "no contexts defined"})`);
  }
  const dir = path.dirname(file);
  const resolved: ContextSettings = { ...settings };
  for (const key of PATH_KEYS) {
    const value = resolved[key];
    if (value !== undefined) resolved[key] = resolvePath(value, dir);
  }
  return { name: wanted, settings: resolved };
}

/** "~/x" → home; relative → against `dir`. */
export function resolvePath(value: string, dir: string): string {
  if (value === "~" || value.startsWith("~/")) return path.join(os.homedir(), value.slice(1));
  return path.resolve(dir, value);
}
