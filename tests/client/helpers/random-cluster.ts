import { HiveHealth, type FindWorkersRequest } from "../../../gen/apiary/v1/queen_pb.js";
import type { Queen } from "../../../src/queen/queen.js";
import { randomDevices, randomHiveLabels, randomQuery as randomClusterQuery, randomWorkers, type Choices, type ClusterShape } from "../../queen/helpers/random-cluster-data.js";
import { makeHiveInfo, makeReport } from "../../queen/helpers/telemetry-builders.js";
import { TestHive } from "../../queen/helpers/test-hive.js";

export { choices, type Choices } from "../../queen/helpers/random-cluster-data.js";

export const MODELS = ["llama", "mistral", "qwen"];
export const HIVE_IDS = ["h0", "h1", "h2", "h3", "h4", "h5"];
/** Through a real queen: reports are validated (memory at most 2^50 bytes). */
const SHAPE: ClusterShape = { hiveIds: HIVE_IDS, models: MODELS, hugeBytes: 2n ** 50n, healthAndLabels: true };

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
      const devices = randomDevices(r, SHAPE, id);
      await current.report(makeReport(0, devices, randomWorkers(r, SHAPE, id, devices.length)));
    }
  }

  close(): void {
    for (const hive of this.hives.values()) hive.abort();
    this.hives.clear();
  }

  private async reconnect(id: string, old: TestHive | undefined): Promise<TestHive> {
    old?.abort();
    const hive = await TestHive.connect(this.queen.url, makeHiveInfo(id, randomHiveLabels(this.r, 0.6)));
    this.hives.set(id, hive);
    return hive;
  }
}

export function randomQuery(r: Choices): FindWorkersRequest {
  return randomClusterQuery(r, SHAPE);
}
