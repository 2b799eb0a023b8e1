// The router alone in its own process, over a fixed list of workers (the informer's per-request
// cost is measured by the client's pick figure): what `apiary route` adds on the request path.
import { pino } from "pino";
import { exitWithParent } from "../lib/children.js";
import { startRouter } from "../../src/route/router.js";
import type { RouteCandidate, WorkerSource } from "../../src/route/route-candidate.js";

const [workersJson] = process.argv.slice(2);
const workers = (JSON.parse(workersJson) as { key: string; baseUrl: string }[]).map(
  (w): RouteCandidate => ({ ...w, model: "bench", load: { waiting: 0, running: 0, kvCacheUsageRatio: 0 }, reportMark: "1" }),
);
const source: WorkerSource = { candidates: (m) => (m === "bench" ? workers : []), models: () => ["bench"] };
const router = await startRouter({ host: "127.0.0.1", port: 0, logger: pino({ level: "silent" }), source });
exitWithParent(() => void router.close());
process.send!({ port: router.port });
