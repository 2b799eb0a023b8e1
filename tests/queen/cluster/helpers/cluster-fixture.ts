import { HiveHealth } from "../../../../gen/apiary/v1/queen_pb.js";
import { MemoryClusterStore } from "../../../../src/queen/cluster/memory-cluster-store.js";
import type { Queen, StartQueenOptions } from "../../../../src/queen/queen.js";
import { ChangeType, type RegistryEvent } from "../../../../src/queen/registry/registry.js";
import { startTestQueen } from "../../helpers/queen-fixture.js";

/** Several real queens on loopback ports sharing one MemoryClusterStore. */
export class TestCluster {
  readonly queens = new Map<string, Queen>();
  /** Every registry event of every queen (what its Watch streams carry), by queen id. */
  readonly events = new Map<string, RegistryEvent[]>();

  constructor(
    readonly store = new MemoryClusterStore(),
    private readonly defaults: StartQueenOptions = {},
  ) {}

  async start(queenId: string, options: StartQueenOptions = {}): Promise<Queen> {
    const { queen } = await startTestQueen({ clusterStore: this.store, queenId, leaseTtlMs: 10_000, ...this.defaults, ...options });
    const events: RegistryEvent[] = [];
    queen.registry.subscribe((e) => events.push(e));
    this.queens.set(queenId, queen);
    this.events.set(queenId, events);
    return queen;
  }

  queen(queenId: string): Queen {
    const q = this.queens.get(queenId);
    if (!q) throw new Error(`no queen ${queenId}`);
    return q;
  }

  /** Hive events with health DOWN any queen emitted for the hive. */
  downEvents(hiveId: string): string[] {
    const out: string[] = [];
    for (const [queenId, events] of this.events) {
      for (const e of events) if (e.kind === "hive" && e.hiveId === hiveId && e.hive.health === HiveHealth.DOWN) out.push(`${queenId}@${e.revision}`);
    }
    return out;
  }

  removedOn(queenId: string, hiveId: string): boolean {
    return this.events.get(queenId)!.some((e) => e.kind === "hive" && e.hiveId === hiveId && e.type === ChangeType.Removed);
  }

  async close(): Promise<void> {
    await Promise.all([...this.queens.values()].map((q) => q.close()));
    await this.store.close();
  }
}
