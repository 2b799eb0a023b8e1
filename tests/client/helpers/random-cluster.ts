import { create } from "@bufbuild/protobuf";
import { FindWorkersRequestSchema, HiveHealth, WorkerOrder, type FindWorkersRequest } from "../../../gen/apiary/v1/queen_pb.js";
import { EngineKind, EngineLoadSchema, GpuDeviceSchema, GpuHealthState, WorkerState, type GpuDevice, type WorkerTelemetry } from "../../../gen/apiary/v1/telemetry_pb.js";
import type { Queen } from "../../../src/queen/queen.js";
import { seededRandom } from "../../helpers/seeded-random.js";
import { GiB, makeHiveInfo, makeReport, makeWorker } from "../../queen/helpers/telemetry-builders.js";
import { TestHive } from "../../queen/helpers/test-hive.js";

/** Seeded choices, so a failing run replays from its seed. */
export function choices(seed: number) {
  const next = seededRandom(seed);
  return {
    int: (n: number) => Math.floor(next() * n),
    chance: (p: number) => next() < p,
    pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)],
  };
}
export type Choices = ReturnType<typeof choices>;

export const MODELS = ["llama", "mistral", "qwen"];
export const HIVE_IDS = ["h0", "h1", "h2", "h3", "h4", "h5"];
const STATES = [WorkerState.RUNNING, WorkerState.RUNNING, WorkerState.STARTING, WorkerState.EXITED];
/** The largest memory a report may carry (report validation caps it at 2^50 bytes). */
export const HUGE = 2n ** 50n;
const USED = [0n, 8n * GiB, 40n * GiB, 80n * GiB, 100n * GiB];

function randomDevices(r: Choices, hiveId: string): GpuDevice[] {
  return Array.from({ length: r.int(4) }, (_, index) => {
    const huge = r.chance(0.2);
    return create(GpuDeviceSchema, {
      index,
      uuid: `GPU-${hiveId}-${index}`,
      memoryTotalBytes: r.chance(0.1) ? undefined : huge ? HUGE : 80n * GiB,
      memoryUsedBytes: r.chance(0.1) ? undefined : huge ? BigInt(r.int(3)) : r.pick(USED),
      utilizationPct: r.int(101),
      // Sometimes judged by the hive: UNHEALTHY GPUs leave FindWorkers unless include_unhealthy_gpus.
      health: r.chance(0.3) ? { state: r.pick([GpuHealthState.HEALTHY, GpuHealthState.DEGRADED, GpuHealthState.UNHEALTHY]) } : undefined,
    });
  });
}

/** Engine load with each value sometimes unknown; few distinct values so that ties are common. */
function randomEngineLoad(r: Choices) {
  return create(EngineLoadSchema, {
    kind: EngineKind.VLLM,
    requestsRunning: r.chance(0.15) ? undefined : r.pick([0, 0, 1, 3, 8]),
    requestsWaiting: r.chance(0.15) ? undefined : r.pick([0, 0, 2, 5]),
    kvCacheUsageRatio: r.chance(0.2) ? undefined : r.pick([0, 0.25, 0.5, 0.9, 1]),
  });
}

function randomWorkers(r: Choices, hiveId: string, devices: number): WorkerTelemetry[] {
  return Array.from({ length: r.int(7) }, () => r.int(10))
    .filter((n, i, all) => all.indexOf(n) === i)
    .map((n) =>
      makeWorker(`w${n}`, {
        model: r.pick(MODELS),
        state: r.pick(STATES),
        gpuUtilizationPct: r.chance(0.2) ? undefined : r.pick([0, 3, 5, 5.5, 40, 100]),
        gpuUuids: devices === 0 ? [] : Array.from({ length: r.int(3) }, () => `GPU-${hiveId}-${r.int(devices)}`).filter((u, i, all) => all.indexOf(u) === i),
        engineLoad: r.chance(0.4) ? undefined : randomEngineLoad(r),
        labels: r.chance(0.3) ? { tier: r.pick(["gold", "free"]) } : {},
      }),
    );
}

/**
 * Test hives on a real queen, changed at random: reports with new devices and workers, new
 * incarnations with other labels, broken streams, health set by the liveness rules, goodbyes.
 */
export class RandomCluster {
  private readonly hives = new Map<string, TestHive>();

  constructor(
    private readonly queen: Queen,
    private readonly r: Choices,
  ) {}

  /** One random change; resolves once the queen has acked it. */
  async mutate(): Promise<void> {
    const r = this.r;
    const id = r.pick(HIVE_IDS);
    const hive = this.hives.get(id);
    const action = r.int(20);
    if (hive && action === 0) {
      await hive.goodbye();
      this.hives.delete(id);
    } else if (hive && action === 1) {
      await hive.halfClose(); // a broken stream: DEGRADED at once
      this.hives.delete(id);
    } else if (action === 2 && this.queen.registry.hive(id)) {
      this.queen.registry.setHealth(id, r.pick([HiveHealth.DEGRADED, HiveHealth.DOWN, HiveHealth.HEALTHY]));
    } else {
      const current = hive && action !== 3 ? hive : await this.reconnect(id, hive);
      const devices = randomDevices(r, id);
      await current.report(makeReport(0, devices, randomWorkers(r, id, devices.length)));
    }
  }

  close(): void {
    for (const hive of this.hives.values()) hive.abort();
    this.hives.clear();
  }

  private async reconnect(id: string, old: TestHive | undefined): Promise<TestHive> {
    old?.abort();
    const labels: Record<string, string> = this.r.chance(0.6) ? { zone: this.r.pick(["eu", "us"]), class: this.r.pick(["h100", "a100"]) } : {};
    const hive = await TestHive.connect(this.queen.url, makeHiveInfo(id, labels));
    this.hives.set(id, hive);
    return hive;
  }
}

export function randomQuery(r: Choices): FindWorkersRequest {
  const freeChoices = [0n, 1n, 30n * GiB, 40n * GiB, 72n * GiB, 80n * GiB, HUGE - 2n, HUGE - 1n, HUGE];
  return create(FindWorkersRequestSchema, {
    model: r.chance(0.3) ? "" : r.pick([...MODELS, "unknown"]),
    idleOnly: r.chance(0.15),
    maxGpuUtilizationPct: r.chance(0.2) ? r.pick([0, 5, 40, 100]) : undefined,
    minFreeVramBytes: r.chance(0.5) ? r.pick(freeChoices) : 0n,
    hiveLabels: r.chance(0.2) ? { zone: r.pick(["eu", "us"]) } : r.chance(0.1) ? { zone: "eu", class: "h100" } : {},
    hiveIds: r.chance(0.2) ? Array.from({ length: 1 + r.int(3) }, () => r.pick([...HIVE_IDS, "nope"])) : [],
    includeDegraded: r.chance(0.4),
    state: r.chance(0.2) ? r.pick([WorkerState.STARTING, WorkerState.EXITED, WorkerState.RUNNING]) : WorkerState.UNSPECIFIED,
    limit: r.pick([0, 1, 2, 3, 5, 2000]),
    order: r.pick([WorkerOrder.UNSPECIFIED, WorkerOrder.MOST_FREE_VRAM, WorkerOrder.LEAST_UTILIZED, WorkerOrder.LEAST_LOADED]),
    maxRequestsWaiting: r.chance(0.15) ? r.pick([0, 2, 5]) : undefined,
    maxKvCacheUsageRatio: r.chance(0.15) ? r.pick([0, 0.5, 1]) : undefined,
    workerLabels: r.chance(0.15) ? { tier: r.pick(["gold", "free"]) } : {},
    includeUnhealthyGpus: r.chance(0.3),
  });
}
