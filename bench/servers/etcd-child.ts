import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exitWithParent, serveChildRpc } from "../lib/children.js";
import { cpuSecondsOf, rssBytesOf } from "../lib/proc-stats.js";
import { freePort } from "../../src/common/free-port.js";

/**
 * Keeps one etcd on loopback for the bench, with its data in a fresh temp dir. etcd is killed and
 * its data removed when the bench ends this process or goes away (IPC closes), so a crashed bench
 * never leaves an etcd behind.
 */
const HEALTH_DEADLINE_MS = 30_000;
const dataDir = mkdtempSync(join(tmpdir(), "apiary-bench-etcd-"));
const clientPort = await freePort();
const peerPort = await freePort();
const client = `http://127.0.0.1:${clientPort}`;
const peer = `http://127.0.0.1:${peerPort}`;
const etcd = spawn(
  process.env.ETCD_BIN ?? "etcd",
  [
    "--name=bench",
    `--data-dir=${dataDir}`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=bench=${peer}`,
    "--quota-backend-bytes=8589934592",
    "--auto-compaction-mode=periodic",
    "--auto-compaction-retention=1m",
    "--log-level=warn",
    "--logger=zap",
  ],
  { stdio: ["ignore", "ignore", "pipe"] },
);
let stderrTail = "";
etcd.stderr?.on("data", (chunk: Buffer) => {
  stderrTail = (stderrTail + chunk.toString()).slice(-4000);
});

function cleanup(): void {
  etcd.kill("SIGKILL");
  rmSync(dataDir, { recursive: true, force: true });
}
exitWithParent(cleanup);
process.once("SIGTERM", () => {
  cleanup();
  process.exit(0);
});
etcd.once("exit", (code, signal) => {
  process.send?.({ type: "etcd-exit", code, signal, stderr: stderrTail });
  rmSync(dataDir, { recursive: true, force: true });
  process.exit(1);
});

async function waitHealthy(): Promise<void> {
  const deadline = Date.now() + HEALTH_DEADLINE_MS;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${client}/health`);
      const body = (await res.json()) as { health?: string };
      if (body.health === "true") return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`etcd not healthy within ${HEALTH_DEADLINE_MS} ms: ${stderrTail}`);
}

await waitHealthy();
serveChildRpc({
  stats: () => ({ rss: rssBytesOf(etcd.pid!), cpuSeconds: cpuSecondsOf(etcd.pid!) }),
});
process.send?.({ type: "ready", address: `127.0.0.1:${clientPort}`, pid: etcd.pid });
