import { Counter, Gauge, type Registry } from "prom-client";

/** What a queen in a cluster of queens tells /metrics; undefined before it has joined. */
export interface ClusterMetricsSource {
  readonly isUp: boolean;
  heldCount(): number;
  orphanCount(): number;
  livePeerCount(): number;
  /** Cluster-store writes this queen made, by kind (claim, update, remove, orphan). */
  writeCounts(): Readonly<Record<string, number>>;
}

/** The series of several queens: only registered when a cluster store is configured. */
export function registerClusterMetrics(r: Registry, source: () => ClusterMetricsSource | undefined): void {
  new Gauge({
    name: "apiary_queen_cluster_store_up",
    help: "1 while the queen holds its cluster-store lease and watches the store (it can take hives), else 0.",
    registers: [r],
    collect() {
      this.set(source()?.isUp ? 1 : 0);
    },
  });
  new Gauge({
    name: "apiary_queen_cluster_held_hives",
    help: "Hives whose Heartbeat streams this queen holds (the others are shown from their owners).",
    registers: [r],
    collect() {
      this.set(source()?.heldCount() ?? 0);
    },
  });
  new Gauge({
    name: "apiary_queen_cluster_orphan_hives",
    help: "Hives no queen holds (their queen's lease expired), judged by every queen.",
    registers: [r],
    collect() {
      this.set(source()?.orphanCount() ?? 0);
    },
  });
  new Gauge({
    name: "apiary_queen_cluster_peers_following",
    help: "Other queens this queen follows with a live FollowHeldHives stream.",
    registers: [r],
    collect() {
      this.set(source()?.livePeerCount() ?? 0);
    },
  });
  new Counter({
    name: "apiary_queen_cluster_store_writes_total",
    help: "Cluster-store writes of this queen, by kind (claim, update, remove, orphan); never one per report.",
    labelNames: ["kind"],
    registers: [r],
    collect() {
      this.reset();
      for (const [kind, n] of Object.entries(source()?.writeCounts() ?? {})) this.inc({ kind }, n);
    },
  });
}
