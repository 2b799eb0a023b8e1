import { exitWithParent, serveChildRpc } from "../lib/children.js";
import { WatcherFleet, type WatcherConfig } from "./watchers.js";

/** The watchers' process, driven by the bench over IPC: start, window, stall, unstall, stop. */
const fleet = new WatcherFleet(JSON.parse(process.argv[2] ?? "{}") as WatcherConfig);
exitWithParent(() => fleet.close());
process.once("SIGTERM", () => {
  fleet.close();
  process.exit(0);
});
serveChildRpc({
  async start() {
    await fleet.start();
    return {};
  },
  window: () => fleet.take(),
  async stall() {
    await fleet.openStalled();
    return {};
  },
  unstall: () => {
    fleet.closeStalled();
    return {};
  },
  stop: () => {
    fleet.close();
    setImmediate(() => process.exit(0));
    return {};
  },
});
process.send?.({ type: "ready" });
