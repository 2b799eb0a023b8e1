import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as net from "node:net";
import path from "node:path";
import * as tls from "node:tls";
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
  let sequential = { tcp: NaN, tls: NaN };
  for (const mode of ["plaintext", "mtls"] as const) {
    const queen = await startQueenServer(mode === "mtls" ? { security: { tls: tlsFiles } } : {}, ctx.queenStart);
    if (mode === "mtls") sequential = await sequentialHandshakes(queen.address, ca.certPem, await issueCertificate(ca, { identity: { kind: "hive", name: "probe" } }), f.num("handshakes", 50));
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
  ctx.log(`  one at a time, idle queen: TCP connect p50 ${sequential.tcp.toFixed(2)} ms, mTLS handshake p50 ${sequential.tls.toFixed(2)} ms`);
  ctx.extras.tls = { hives, intervalMs, cpuUsPerReport: cpuUs, handshakeMs: hs, sequentialP50Ms: sequential };
  return [
    infoResult("tls", "queen CPU per report, plaintext h2c", [cpuUs.plaintext], "µs", `${hives} hives, one connection each, every ${intervalMs} ms`),
    infoResult("tls", "queen CPU per report, mutual TLS", [cpuUs.mtls], "µs", `+${(((cpuUs.mtls - cpuUs.plaintext) / cpuUs.plaintext) * 100).toFixed(0)} % over plaintext`),
    infoResult("tls", "TLS handshake (mTLS, ECDSA P-256), p50", [hs.p50], "ms", `p99 ${hs.p99.toFixed(1)} ms while ${hives} hives connect`),
    infoResult("tls", "mTLS handshake one at a time, p50", [sequential.tls], "ms", `TCP connect alone ${sequential.tcp.toFixed(2)} ms`),
  ];
}

/** Median time of `n` TCP connects and of `n` full mTLS handshakes (client certificate verified), one after another. */
async function sequentialHandshakes(address: string, caPem: string, client: { certPem: string; keyPem: string }, n: number): Promise<{ tcp: number; tls: number }> {
  const [host, port] = [address.slice(0, address.lastIndexOf(":")), Number(address.slice(address.lastIndexOf(":") + 1))];
  const once = (secure: boolean) =>
    new Promise<number>((resolve, reject) => {
      const start = performance.now();
      const socket: net.Socket = secure
        ? tls.connect({ host, port, ca: caPem, cert: client.certPem, key: client.keyPem, ALPNProtocols: ["h2"], servername: "localhost" }, () => done())
        : net.connect({ host, port }, () => done());
      const done = () => {
        resolve(performance.now() - start);
        socket.destroy();
      };
      socket.on("error", reject);
    });
  const tcp: number[] = [];
  const secure: number[] = [];
  for (let i = 0; i < n; i++) {
    tcp.push(await once(false));
    secure.push(await once(true));
  }
  return { tcp: summarize(tcp).p50, tls: summarize(secure).p50 };
}
