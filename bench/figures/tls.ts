import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { sleep } from "../lib/args.js";
import { GeneratorFleet } from "../lib/generators.js";
import { infoResult, type FigureResult } from "../lib/results.js";
import { startQueenServer } from "../lib/servers.js";
import { summarize } from "../lib/stats.js";
import { createCa, issueCertificate } from "../../src/rpc/tls/pki.js";
import type { FigureContext } from "./context.js";

/**
 * What TLS costs the queen: the same Heartbeat load (one connection per hive, as real hives
 * connect) against a plaintext queen and a mutual-TLS queen; queen CPU per acked report in each,
 * and the TLS handshake time the hives saw (ECDSA P-256 certificates from src/rpc/tls/pki.ts).
 */
export async function tlsFigure(ctx: FigureContext): Promise<FigureResult[]> {
  const f = ctx.flags;
  const hives = f.num("tls-hives", 300);
  const intervalMs = f.num("interval-ms", 500);
  const warmupMs = f.num("warmup-ms", 3_000);
  const measureMs = f.num("measure-ms", 10_000);
  const dir = mkdtempSync(path.join(tmpdir(), "apiary-bench-tls-"));
  const ca = await createCa("apiary bench CA");
  writeFileSync(path.join(dir, "ca.crt"), ca.certPem);
  writeFileSync(path.join(dir, "ca.key"), ca.keyPem, { mode: 0o600 });
  const queenPair = await issueCertificate(ca, { identity: { kind: "queen", name: "bench" }, dns: ["localhost"], ips: ["127.0.0.1"] });
  const tlsFiles = { certFile: path.join(dir, "queen.crt"), keyFile: path.join(dir, "queen.key"), clientCaFile: path.join(dir, "ca.crt") };
  writeFileSync(tlsFiles.certFile, queenPair.certPem);
  writeFileSync(tlsFiles.keyFile, queenPair.keyPem, { mode: 0o600 });

  const cpuUs: Record<string, number> = {};
  let handshakes: number[] = [];
  for (const mode of ["plaintext", "mtls"] as const) {
    const queen = await startQueenServer(mode === "mtls" ? { security: { tls: tlsFiles } } : {}, ctx.queenStart);
    const fleet = await GeneratorFleet.start(1, { target: "apiary", address: queen.address, intervalMs, hivesPerConnection: 1, ...(mode === "mtls" ? { tls: { caDir: dir } } : {}) });
    try {
      await fleet.scaleTo(hives);
      await sleep(warmupMs);
      const first = await fleet.window();
      if (mode === "mtls") handshakes = first.handshakeMs;
      const before = (await queen.stats()).cpuSeconds;
      await sleep(measureMs);
      const w = await fleet.window();
      const after = (await queen.stats()).cpuSeconds;
      cpuUs[mode] = ((after - before) * 1e6) / Math.max(1, w.acked);
      ctx.log(`  ${mode}: ${w.connectedHives}/${w.hives} hives, ${w.ackRate.toFixed(0)} acked/s, ack p50 ${w.latencyMs.p50.toFixed(1)} ms p99 ${w.latencyMs.p99.toFixed(1)} ms, queen CPU ${cpuUs[mode].toFixed(0)} µs/report`);
    } finally {
      await fleet.stop();
      await queen.stop();
    }
  }
  const hs = summarize(handshakes);
  ctx.log(`  TLS handshakes (${handshakes.length}, ${hives} hives connecting ≤ 200 at once): p50 ${hs.p50.toFixed(1)} ms, p99 ${hs.p99.toFixed(1)} ms`);
  ctx.extras.tls = { hives, intervalMs, cpuUsPerReport: cpuUs, handshakeMs: hs };
  return [
    infoResult("tls", "queen CPU per report, plaintext h2c", [cpuUs.plaintext], "µs", `${hives} hives, one connection each, every ${intervalMs} ms`),
    infoResult("tls", "queen CPU per report, mutual TLS", [cpuUs.mtls], "µs", `+${(((cpuUs.mtls - cpuUs.plaintext) / cpuUs.plaintext) * 100).toFixed(0)} % over plaintext`),
    infoResult("tls", "TLS handshake (mTLS, ECDSA P-256), p50", [hs.p50], "ms", `p99 ${hs.p99.toFixed(1)} ms while ${hives} hives connect`),
  ];
}
