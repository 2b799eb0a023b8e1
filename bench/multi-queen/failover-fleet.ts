import { sleep } from "../lib/args.js";
import { RawGrpcConnection, RawGrpcHive } from "../load/raw-grpc-hive.js";
import { LoadCounters, type WindowStats } from "../load/load-stats.js";
import { SimulatedHive, type ClusterShape } from "../load/telemetry-model.js";

export interface FailoverFleetConfig extends ClusterShape {
  /** host:port of every queen; connection g starts on addresses[g % n]. */
  addresses: string[];
  /** Global index of the first hive. */
  firstHive: number;
  intervalMs: number;
  /** Hives sharing one HTTP/2 connection (they move to another queen together). */
  hivesPerConnection: number;
  /** A hive with this many unanswered reports skips its next one. */
  maxOutstanding: number;
  /** Backoff after a round in which every queen refused: doubles per round from retryMs up to retryCapMs, full jitter. */
  retryMs: number;
  retryCapMs: number;
  /** Tries per loss before the connection's hives give up (every queen refused them). */
  maxTries: number;
}

export const DEFAULT_FAILOVER_FLEET: Omit<FailoverFleetConfig, "addresses"> = {
  workers: 8,
  gpus: 2,
  models: 200,
  firstHive: 0,
  intervalMs: 1_000,
  hivesPerConnection: 25,
  maxOutstanding: 10,
  retryMs: 250,
  retryCapMs: 5_000,
  maxTries: 12,
};

/** One queen lost by a group of hives and found again. */
export interface Reconnect {
  hives: number;
  from: string;
  to: string;
  /** From the connection's close to every hive of it welcomed by the next queen, ms. */
  ms: number;
  tries: number;
}

interface Group {
  sims: SimulatedHive[];
  hives: (RawGrpcHive | undefined)[];
  connection: RawGrpcConnection | undefined;
  addressIndex: number;
}

/**
 * Simulated hives (raw gRPC Heartbeat, as the load generator's) that know every queen: each
 * connection's hives start on one queen, spread round robin, and when that connection closes
 * (the queen died) they say hello to the next queen with the same incarnation, as `apiary hive
 * --queen a,b,c` does (the next queen at once, a backoff only after a round of refusals). Tries
 * are bounded: maxTries per loss, then the connection's hives give up (counted in gaveUp).
 */
export class FailoverFleet {
  readonly counters = new LoadCounters();
  readonly reconnects: Reconnect[] = [];
  /** Losses whose hives found no queen within maxTries. */
  gaveUp = 0;
  private readonly groups: Group[] = [];
  private pacer: NodeJS.Timeout | undefined;
  private cursor = 0;
  private credit = 0;
  private lastPaceMs = performance.now();
  private stopping = false;

  constructor(readonly config: FailoverFleetConfig) {}

  /** Creates `total` hives and connects every group to its first queen; resolves once all are welcomed. */
  async start(total: number): Promise<void> {
    const { hivesPerConnection, addresses } = this.config;
    for (let local = 0; local < total; local++) {
      const g = Math.floor(local / hivesPerConnection);
      if (!this.groups[g]) this.groups.push({ sims: [], hives: [], connection: undefined, addressIndex: g % addresses.length });
      this.groups[g].sims.push(new SimulatedHive(this.config.firstHive + local, this.config));
    }
    await Promise.all(this.groups.map(async (group) => {
      if (!(await this.connectGroup(group))) throw new Error(`hives of ${addresses[group.addressIndex]} were not welcomed`);
    }));
    this.lastPaceMs = performance.now();
    this.pacer = setInterval(() => this.pace(), 5);
  }

  /** Which queen (address) each hive's connection is on now. */
  placement(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const group of this.groups) for (const sim of group.sims) out[sim.info.hiveId] = this.config.addresses[group.addressIndex];
    return out;
  }

  hiveCount(): number {
    return this.groups.reduce((n, g) => n + g.sims.length, 0);
  }

  connectedCount(): number {
    let n = 0;
    for (const group of this.groups) for (const hive of group.hives) if (hive?.connected) n++;
    return n;
  }

  window(): WindowStats {
    return this.counters.take(this.hiveCount(), this.connectedCount());
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.pacer) clearInterval(this.pacer);
    await Promise.all(this.groups.flatMap((g) => g.hives.map((h) => h?.close(true).catch(() => {}))));
    for (const group of this.groups) group.connection?.close();
  }

  /** One try: a connection to the group's current queen and a hello per hive. False if any was refused. */
  private async connectGroup(group: Group): Promise<boolean> {
    const address = this.config.addresses[group.addressIndex];
    const connection = new RawGrpcConnection(address);
    const hives = group.sims.map((sim) => new RawGrpcHive(sim, connection, this.counters));
    const ok = await Promise.all(hives.map((h) => h.connect().then(() => true, () => false)));
    if (ok.includes(false) || this.stopping) {
      connection.session.destroy();
      return false;
    }
    group.connection = connection;
    group.hives = hives;
    connection.session.once("close", () => {
      if (group.connection === connection && !this.stopping) void this.failover(group, address);
    });
    return true;
  }

  /** As the hive's heartbeat client: the next queen at once; a backoff (full jitter) only after a round in which every queen refused. */
  private async failover(group: Group, from: string): Promise<void> {
    const lostAt = performance.now();
    group.hives = [];
    group.connection = undefined;
    const n = this.config.addresses.length;
    for (let tries = 1; tries <= this.config.maxTries && !this.stopping; tries++) {
      group.addressIndex = (group.addressIndex + 1) % n;
      if (await this.connectGroup(group)) {
        this.reconnects.push({ hives: group.sims.length, from, to: this.config.addresses[group.addressIndex], ms: performance.now() - lostAt, tries });
        return;
      }
      if (tries % n === 0) await sleep(Math.random() * Math.min(this.config.retryCapMs, this.config.retryMs * 2 ** (tries / n - 1)));
    }
    if (!this.stopping) this.gaveUp++;
  }

  /** Sends the reports due since the last call: hives × elapsed / interval, round robin. */
  private pace(): void {
    const now = performance.now();
    const total = this.hiveCount();
    this.credit = Math.min(this.credit + ((now - this.lastPaceMs) * total) / this.config.intervalMs, Math.max(1, total / 4));
    this.lastPaceMs = now;
    const per = this.config.hivesPerConnection;
    while (this.credit >= 1) {
      this.credit -= 1;
      const hive = this.groups[Math.floor(this.cursor / per)]?.hives[this.cursor % per];
      this.cursor = (this.cursor + 1) % total;
      if (!hive?.connected) continue;
      if (hive.outstanding() >= this.config.maxOutstanding) {
        this.counters.skipped++;
        continue;
      }
      hive.send();
    }
  }
}
