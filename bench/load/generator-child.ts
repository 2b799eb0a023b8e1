import { exitWithParent, serveChildRpc } from "../lib/children.js";
import { LoadGenerator, type GeneratorConfig } from "./generator.js";

/** A load generator process, driven by the bench over IPC: scale, window, stop. */
const config = JSON.parse(process.argv[2] ?? "{}") as GeneratorConfig;
const generator = new LoadGenerator(config);
exitWithParent();
process.once("SIGTERM", () => process.exit(0));

serveChildRpc({
  async scale(args) {
    await generator.scaleTo(Number(args.hives));
    return { hives: generator.hiveCount(), connected: generator.connectedCount() };
  },
  window: () => generator.window(),
  async stop(args) {
    await generator.stop(args.goodbye !== false);
    setImmediate(() => process.exit(0));
    return {};
  },
});
process.send?.({ type: "ready" });
