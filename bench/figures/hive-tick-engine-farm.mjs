// N engine endpoints in one process (the demo worker's vLLM-format /metrics, each with its own
// load), so the hive-tick bench scrapes N real HTTP servers without starting N demo workers.
// Prints the ports as one JSON line, then serves until killed.
import { startEngineMetrics } from "../../examples/demo-worker/engine-metrics.mjs";

const n = Number(process.argv[2] ?? 64);
const ports = [];
for (let i = 0; i < n; i++) ports.push(await startEngineMetrics({ port: 0, model: `org/model-${i % 5}`, load: `${i % 9},${i % 4}` }));
console.log(JSON.stringify({ ports }));
setInterval(() => {}, 60_000);
