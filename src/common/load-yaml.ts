const importYaml = () => import("yaml");

/** parse, stringify and the rest of the yaml package. */
export type YamlModule = Awaited<ReturnType<typeof importYaml>>["default"];

/**
 * The yaml package, imported only when YAML is read or written: a static import costs the start of
 * every command that could need it. yaml is CommonJS, so its exports are read from the default
 * export, which both Node's import and the bundle's chunk for it (scripts/build.mjs) provide.
 */
export async function loadYaml(): Promise<YamlModule> {
  return (await importYaml()).default;
}
