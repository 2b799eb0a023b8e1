import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createClient, type Client } from "@connectrpc/connect";
import { QueenService } from "../../../gen/apiary/v1/queen_pb.js";
import { HiveService } from "../../../gen/apiary/v1/hive_pb.js";
import { createApiaryTransport } from "../../../src/rpc/transport.js";
import { ApiaryProcess } from "./apiary-process.js";

export const FAKE_NVIDIA_SMI = fileURLToPath(new URL("../../../examples/fake-nvidia-smi/fake-nvidia-smi", import.meta.url));
export const DEMO_WORKER = fileURLToPath(new URL("../../../examples/demo-worker/demo-worker.mjs", import.meta.url));

/** Liveness settings short enough for tests: DEGRADED after 1 s, DOWN after 2.5 s, evicted 2 s later. */
export const FAST_QUEEN_ARGS = [
  "--report-interval", "250ms", "--degraded-after", "1s", "--down-after", "2500ms",
  "--evict-after", "2s", "--sweep-interval", "100ms", "--ended-retention", "3s",
];

/** A queen and a hive started as `apiary` child processes, with clients for both. */
export class Cluster {
  queen!: ApiaryProcess;
  hive!: ApiaryProcess;
  queenUrl = "";
  hiveUrl = "";
  readonly dir = mkdtempSync(path.join(os.tmpdir(), "apiary-e2e-"));
  /** Write a fake nvidia-smi mode here ("hang", "ok", …) to change it mid-run. */
  readonly gpuModeFile = path.join(this.dir, "gpu-mode");
  readonly hiveId = `e2e-${process.pid}-${Math.random().toString(16).slice(2, 6)}`;
  queenClient!: Client<typeof QueenService>;
  hiveClient!: Client<typeof HiveService>;
  private workerGroups = new Set<number>();

  async startQueen(port = 0): Promise<void> {
    this.queen = ApiaryProcess.start(["queen", "--port", String(port), ...FAST_QUEEN_ARGS]);
    this.queenUrl = await this.queen.listeningUrl("queen");
    this.queenClient = createClient(QueenService, createApiaryTransport(this.queenUrl));
  }

  /** `extraArgs` come last, so they override the defaults (e.g. a longer --gpu-deadline on a loaded machine). */
  async startHive(extraArgs: string[] = []): Promise<void> {
    writeFileSync(this.gpuModeFile, "ok");
    this.hive = ApiaryProcess.start(
      [
        "hive", "--queen", this.queenUrl, "--port", "0", "--id", this.hiveId, "--label", "suite=e2e",
        "--state-dir", path.join(this.dir, "state"), "--nvidia-smi", FAKE_NVIDIA_SMI, "--gpu-deadline", "1s",
        "--tick-interval", "250ms", "--ack-deadline", "2s", "--stop-workers", ...extraArgs,
      ],
      { FAKE_NVIDIA_SMI_GPUS: "2", FAKE_NVIDIA_SMI_MODE_FILE: this.gpuModeFile, FAKE_NVIDIA_SMI_SEED: this.hiveId },
    );
    this.hiveUrl = await this.hive.listeningUrl("hive");
    this.hiveClient = createClient(HiveService, createApiaryTransport(this.hiveUrl));
  }

  /** Spawns a demo worker through the hive's SpawnWorker and remembers its process group for cleanup. */
  async spawnDemo(workerId: string, model: string, extra: string[] = []) {
    const res = await this.hiveClient.spawnWorker({
      workerId, model, argv: [process.execPath, DEMO_WORKER, "--model", model, "--cpu", "0.3", "--memory", "32MiB", ...extra],
    });
    this.workerGroups.add(res.worker!.pid);
    return res.worker!;
  }

  /**
   * Stops everything the test left: a hive that was killed is started again on its state dir so it
   * re-adopts its workers, then stopped with them (removing their cgroups); then the queen, any
   * worker process group still there, and the temp files.
   */
  async cleanup(): Promise<void> {
    if (this.hive && this.hive.child.signalCode === "SIGKILL") await this.startHive().catch(() => undefined);
    await Promise.all([this.hive?.stop(15_000), this.queen?.stop(5000)]);
    for (const pgid of this.workerGroups) {
      try {
        process.kill(-pgid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

