import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createClient, type Client } from "@connectrpc/connect";
import { HiveService } from "../../../gen/apiary/v1/hive_pb.js";
import { QueenService, type HiveStatus } from "../../../gen/apiary/v1/queen_pb.js";
import { createApiaryTransport } from "../../../src/rpc/transport.js";
import { startEtcd, type EtcdCluster } from "../../helpers/etcd.js";
import { waitFor } from "../../helpers/wait.js";
import { ApiaryProcess } from "./apiary-process.js";
import { DEMO_WORKER, FAKE_NVIDIA_SMI } from "./cluster.js";

/** The queens' lease TTL: short, so takeovers and lease loss happen within seconds. */
export const LEASE_TTL_MS = 3000;
/** Liveness as in the other e2e suites, queens following each other every 100 ms. */
const QUEEN_ARGS = [
  "--lease-ttl", `${LEASE_TTL_MS}ms`, "--peer-flush-interval", "100ms", "--report-interval", "250ms",
  "--degraded-after", "1500ms", "--down-after", "3s", "--evict-after", "3s", "--sweep-interval", "100ms",
];

export interface QueenProcess {
  id: string;
  process: ApiaryProcess;
  url: string;
  client: Client<typeof QueenService>;
}

export interface HiveProcess {
  id: string;
  process: ApiaryProcess;
  url: string;
  client: Client<typeof HiveService>;
}

/**
 * Real etcd (1 or 3 members), `apiary queen --etcd …` and `apiary hive --queen a,b,c` child
 * processes, and clients for each; cleanup() stops every one of them.
 */
export class MultiQueenCluster {
  etcd!: EtcdCluster;
  readonly queens: QueenProcess[] = [];
  readonly hives: HiveProcess[] = [];
  readonly dir = mkdtempSync(path.join(os.tmpdir(), "apiary-multi-queen-"));
  /** Unique per run: hive ids and worker ids are shared with other runs on the machine (cgroups, demo ids). */
  readonly tag = `${process.pid}-${Math.random().toString(16).slice(2, 6)}`;
  private workerGroups = new Set<number>();

  async startEtcd(members: 1 | 3 = 1): Promise<void> {
    this.etcd = await startEtcd({ members });
  }

  /** `etcdEndpoints` defaults to every member (a queen cut off through a proxy gets the proxy's URL). */
  async startQueen(id: string, etcdEndpoints = this.etcd.endpoints): Promise<QueenProcess> {
    const process = ApiaryProcess.start(["queen", "--port", "0", "--etcd", etcdEndpoints.join(","), "--queen-id", id, ...QUEEN_ARGS]);
    const url = await process.listeningUrl("queen");
    const queen = { id, process, url, client: createClient(QueenService, createApiaryTransport(url)) };
    this.queens.push(queen);
    return queen;
  }

  get queenList(): string {
    return this.queens.map((q) => q.url).join(",");
  }

  async startHive(name: string, queenList = this.queenList): Promise<HiveProcess> {
    const id = `${name}-${this.tag}`;
    const process = ApiaryProcess.start(
      [
        "hive", "--queen", queenList, "--port", "0", "--id", id, "--label", "suite=multi-queen",
        "--state-dir", path.join(this.dir, id), "--nvidia-smi", FAKE_NVIDIA_SMI, "--gpu-deadline", "2s",
        "--cgroup-mode", "none", "--tick-interval", "250ms", "--ack-deadline", "2s", "--stop-workers",
      ],
      { FAKE_NVIDIA_SMI_GPUS: "1", FAKE_NVIDIA_SMI_SEED: id },
    );
    const url = await process.listeningUrl("hive");
    const hive = { id, process, url, client: createClient(HiveService, createApiaryTransport(url)) };
    this.hives.push(hive);
    return hive;
  }

  async spawnDemo(hive: HiveProcess, workerId: string, model: string): Promise<void> {
    const res = await hive.client.spawnWorker({
      workerId, model, argv: [process.execPath, DEMO_WORKER, "--model", model, "--cpu", "0", "--memory", "8MiB"],
    });
    this.workerGroups.add(res.worker!.pid);
  }

  /** The hive as `queen` lists it, once it satisfies `check`. */
  async hiveAt(queen: QueenProcess, hiveId: string, check: (h: HiveStatus) => boolean, what: string, timeoutMs = 20_000): Promise<HiveStatus> {
    return waitFor(async () => {
      const { hives } = await queen.client.listHives({}).catch(() => ({ hives: [] as HiveStatus[] }));
      const hive = hives.find((h) => h.info?.hiveId === hiveId);
      return hive && check(hive) ? hive : undefined;
    }, `${what} at queen ${queen.id}`, timeoutMs, 50);
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.hives.map((h) => h.process.stop(15_000)));
    await Promise.all(this.queens.map((q) => q.process.stop(5_000)));
    for (const pgid of this.workerGroups) {
      try {
        process.kill(-pgid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    await this.etcd?.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
