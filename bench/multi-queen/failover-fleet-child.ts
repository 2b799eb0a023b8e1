import { exitWithParent, serveChildRpc } from "../lib/children.js";
import { FailoverFleet, type FailoverFleetConfig } from "./failover-fleet.js";

/** The multi-queen figure's hives in their own process, driven over IPC: start, window, reconnects, stop. */
const config = JSON.parse(process.argv[2] ?? "{}") as FailoverFleetConfig & { hives: number };
const fleet = new FailoverFleet(config);
exitWithParent();
process.once("SIGTERM", () => process.exit(0));

serveChildRpc({
  async start() {
    await fleet.start(config.hives);
    return { hives: fleet.hiveCount(), connected: fleet.connectedCount(), placement: fleet.placement() };
  },
  window: () => fleet.window(),
  state: () => ({ connected: fleet.connectedCount(), reconnects: fleet.reconnects, gaveUp: fleet.gaveUp, placement: fleet.placement() }),
  async stop() {
    await fleet.stop();
    setImmediate(() => process.exit(0));
    return {};
  },
});
process.send?.({ type: "ready" });
