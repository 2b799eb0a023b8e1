import { ETCD_METHODS, encodePut, passthrough } from "./etcd-wire.js";
import type { EtcdConnection } from "./etcd-connection.js";
import type { BenchHive } from "../load/apiary-hive.js";
import type { LoadCounters } from "../load/load-stats.js";
import { encodeReport } from "../load/report-encoder.js";
import type { SimulatedHive } from "../load/telemetry-model.js";
import { preciseWallMs } from "../lib/stats.js";

export const ETCD_HIVE_PREFIX = "/apiary/hives/";

/**
 * A simulated hive the Kubernetes way: its liveness is a lease (kept alive by its connection) and
 * each report is a Put of the encoded HiveReport on its own key, attached to that lease. The put's
 * answer is the ack.
 */
export class EtcdBenchHive implements BenchHive {
  private lease = 0n;
  private inFlight = 0;
  private readonly key: Buffer;
  connected = false;

  constructor(
    readonly sim: SimulatedHive,
    private readonly connection: EtcdConnection,
    private readonly counters: LoadCounters,
  ) {
    this.key = Buffer.from(ETCD_HIVE_PREFIX + sim.info.hiveId);
  }

  outstanding(): number {
    return this.inFlight;
  }

  async connect(): Promise<void> {
    this.lease = await this.connection.grantLease();
    this.connected = true;
  }

  send(): void {
    if (!this.connected) return;
    const value = encodeReport(this.sim.next(preciseWallMs()));
    const started = performance.now();
    this.inFlight++;
    this.counters.sent++;
    this.connection.client.makeUnaryRequest(
      ETCD_METHODS.put,
      passthrough.serialize,
      passthrough.deserialize,
      encodePut(this.key, value, this.lease),
      { deadline: Date.now() + 30_000 },
      (err) => {
        this.inFlight--;
        if (err) {
          this.counters.streamErrors++;
          return;
        }
        this.counters.acked++;
        this.counters.latency.add(performance.now() - started);
      },
    );
  }

  async close(): Promise<void> {
    this.connected = false;
  }
}
