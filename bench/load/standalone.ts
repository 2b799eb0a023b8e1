import { normalizeAddress } from "../../src/common/queen-addresses.js";
import { sleep, type Flags } from "../lib/args.js";
import { DEFAULT_GENERATOR_CONFIG, LoadGenerator } from "./generator.js";

/**
 * `node bin/bench.mjs load --queen HOST:PORT --hives N [--workers W --gpus G --interval-ms I
 * --duration-s S --target apiary|etcd]`: the load generator against any running queen (or etcd),
 * printing acked reports/s and ack latency every 5 s, for at most --duration-s.
 */
export async function runStandaloneLoad(flags: Flags, log: (m: string) => void): Promise<void> {
  const address = normalizeAddress(flags.str("queen", "127.0.0.1:7833")).replace(/^https?:\/\//, "");
  const target = flags.str("target", "apiary") === "etcd" ? "etcd" : "apiary";
  const generator = new LoadGenerator({
    ...DEFAULT_GENERATOR_CONFIG,
    target,
    address,
    workers: flags.num("workers", 8),
    gpus: flags.num("gpus", 2),
    models: flags.num("models", 200),
    intervalMs: flags.num("interval-ms", 1_000),
    hivesPerConnection: flags.num("hives-per-connection", 250),
    firstHive: flags.num("first-hive", 0),
    client: flags.str("client", "raw") === "connect" ? "connect" : "raw",
  });
  const hives = flags.num("hives", 1_000);
  const durationMs = Math.min(flags.num("duration-s", 60), 3_600) * 1_000;
  log(`load: ${hives} hives × ${generator.config.workers} workers × ${generator.config.gpus} GPUs every ${generator.config.intervalMs} ms → ${target} at ${address}`);
  const stop = new AbortController();
  process.once("SIGINT", () => stop.abort());
  try {
    await generator.scaleTo(hives);
    const end = Date.now() + durationMs;
    generator.window();
    while (Date.now() < end && !stop.signal.aborted) {
      await sleep(Math.min(5_000, end - Date.now()));
      const w = generator.window();
      log(`  ${w.connectedHives}/${w.hives} hives, sent ${(w.sent / w.seconds).toFixed(0)}/s, acked ${w.ackRate.toFixed(0)}/s, ack p50 ${w.latencyMs.p50.toFixed(1)} ms p99 ${w.latencyMs.p99.toFixed(1)} ms, skipped ${w.skipped}, errors ${w.streamErrors}, CPU ${w.cpuPerSec.toFixed(2)}`);
    }
  } finally {
    await generator.stop();
  }
}
