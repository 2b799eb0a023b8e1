import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { PACKAGE_ROOT } from "../../src/common/package-root.js";
import { promisify } from "node:util";
import { createClient, type Client } from "@connectrpc/connect";
import { HiveService } from "../../gen/apiary/v1/hive_pb.js";
import { freePort } from "../../src/common/free-port.js";
import { createApiaryTransport, type ClientCredentials } from "../../src/rpc/transport.js";
import { DEMO_WORKER, FAKE_NVIDIA_SMI, FAST_QUEEN_ARGS } from "../e2e/helpers/cluster.js";
import { ApiaryProcess, runApiary } from "../e2e/helpers/apiary-process.js";

export const REPO = PACKAGE_ROOT;
export const execFileAsync = promisify(execFile);

/** A client's TLS files, as `apiary certs` issued them. */
export interface ClientTls {
  ca: string;
  cert: string;
  key: string;
}

/**
 * A queen and one hive as `apiary` child processes, plaintext or mutual TLS, whose workers are demo
 * workers in engine mode (vLLM-format /metrics the hive scrapes), so their load can be set.
 */
export class ClientCluster {
  readonly dir = mkdtempSync(path.join(tmpdir(), "apiary-clients-"));
  readonly hiveId = `clients-${process.pid}`;
  queen!: ApiaryProcess;
  hive!: ApiaryProcess;
  queenUrl = "";
  queenPort = 0;
  /** The client certificate (a reader) for TLS clusters. */
  tls?: ClientTls;
  private queenArgs: string[] = [];
  private hiveClient!: Client<typeof HiveService>;
  private readonly enginePorts = new Map<string, number>();
  private readonly workerPids = new Set<number>();

  static async start(opts: { tls: boolean }): Promise<ClientCluster> {
    const c = new ClientCluster();
    await c.startProcesses(opts.tls);
    return c;
  }

  private async startProcesses(tls: boolean): Promise<void> {
    const pki = path.join(this.dir, "pki");
    const f = (name: string) => path.join(pki, name);
    const hiveTls: string[] = [];
    let admin: ClientCredentials | undefined;
    if (tls) {
      // The queen's and hive's certificates name loopback too: grpc's Python TLS verifies the host name.
      for (const args of [
        ["certs", "init", pki],
        ["certs", "issue", pki, "--queen", "main", "--loopback"],
        ["certs", "issue", pki, "--hive", this.hiveId, "--loopback"],
        ["certs", "issue", pki, "--client", "scheduler"],
        ["certs", "issue", pki, "--client", "ops", "--role", "admin"],
      ]) {
        const out = await runApiary(args);
        if (out.code !== 0) throw new Error(`apiary ${args.join(" ")}: ${out.stderr}`);
      }
      this.queenArgs = ["--tls-cert", f("queen-main.crt"), "--tls-key", f("queen-main.key"), "--client-ca", f("ca.crt")];
      hiveTls.push("--tls-cert", f(`hive-${this.hiveId}.crt`), "--tls-key", f(`hive-${this.hiveId}.key`), "--client-ca", f("ca.crt"));
      this.tls = { ca: f("ca.crt"), cert: f("client-scheduler.crt"), key: f("client-scheduler.key") };
      admin = { caFile: f("ca.crt"), certFile: f("client-ops.crt"), keyFile: f("client-ops.key") };
    }
    await this.startQueen(0);
    const gpuMode = path.join(this.dir, "gpu-mode");
    writeFileSync(gpuMode, "ok");
    this.hive = ApiaryProcess.start(
      [
        "hive", "--queen", this.queenUrl, "--port", "0", "--id", this.hiveId, "--state-dir", path.join(this.dir, "state"),
        "--nvidia-smi", FAKE_NVIDIA_SMI, "--gpu-deadline", "1s", "--tick-interval", "250ms", "--ack-deadline", "2s",
        "--cgroup-mode", "none", "--stop-workers", ...hiveTls,
      ],
      { FAKE_NVIDIA_SMI_GPUS: "2", FAKE_NVIDIA_SMI_MODE_FILE: gpuMode, FAKE_NVIDIA_SMI_SEED: this.hiveId, APIARY_LOG_LEVEL: "warn" },
    );
    const hiveUrl = (await this.hive.waitFor(/apiary hive listening on (https?:\/\/\S+)/))[1];
    this.hiveClient = createClient(HiveService, createApiaryTransport(hiveUrl, admin ? { credentials: admin } : {}));
  }

  /** Starts the queen (again, after stopQueen) on the port given, 0 for any. */
  async startQueen(port: number): Promise<void> {
    this.queen = ApiaryProcess.start(["queen", "--port", String(port), ...FAST_QUEEN_ARGS, ...this.queenArgs], { APIARY_LOG_LEVEL: "warn" });
    this.queenUrl = (await this.queen.waitFor(/apiary queen listening on (https?:\/\/\S+)/))[1];
    this.queenPort = Number(new URL(this.queenUrl).port);
  }

  async stopQueen(): Promise<void> {
    await this.queen.stop(5000);
  }

  /** Spawns a demo worker of `model` on GPU `gpu` with engine load "RUNNING,WAITING". */
  async spawnEngineWorker(workerId: string, model: string, load: string, gpu: number): Promise<void> {
    const port = await freePort();
    const res = await this.hiveClient.spawnWorker({
      workerId, model, gpuUuids: [String(gpu)],
      argv: [process.execPath, DEMO_WORKER, "--model", model, "--engine", "vllm", "--engine-port", String(port), "--engine-load", load],
      engineMetrics: { case: "engineMetricsPort", value: port },
    });
    this.enginePorts.set(workerId, port);
    this.workerPids.add(res.worker!.pid);
  }

  async stopWorker(workerId: string): Promise<void> {
    await this.hiveClient.stopWorker({ workerId });
  }

  /** Changes a worker's engine load ("RUNNING,WAITING"); the hive reads it at its next tick. */
  async setLoad(workerId: string, load: string): Promise<void> {
    const res = await fetch(`http://127.0.0.1:${this.enginePorts.get(workerId)}/load`, { method: "POST", body: load });
    if (!res.ok) throw new Error(`POST /load to ${workerId}: ${res.status}`);
  }

  async stop(): Promise<void> {
    await Promise.all([this.hive?.stop(10_000), this.queen?.stop(5000)]);
    for (const pid of this.workerPids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
