import type { ChildProcess } from "node:child_process";
import { DEFAULT_GENERATOR_CONFIG, type GeneratorConfig } from "../load/generator.js";
import type { WindowStats } from "../load/load-stats.js";
import { ChildRpc, forkBench, stopChild } from "./children.js";
import { summarize, type LatencySummary } from "./stats.js";

export interface MergedWindow {
  seconds: number;
  hives: number;
  connectedHives: number;
  sent: number;
  acked: number;
  skipped: number;
  streamErrors: number;
  ackRate: number;
  latencyMs: LatencySummary;
  /** CPU cores the generators used together. */
  generatorCpu: number;
  /** TLS handshakes completed in the window, ms each (generators with tls only). */
  handshakeMs: number[];
}

/** Several load generator processes splitting one simulated cluster between them. */
export class GeneratorFleet {
  private constructor(
    private readonly children: ChildProcess[],
    private readonly rpcs: ChildRpc[],
  ) {}

  static async start(count: number, config: Partial<GeneratorConfig> & Pick<GeneratorConfig, "target" | "address">, profileDir?: string): Promise<GeneratorFleet> {
    const children: ChildProcess[] = [];
    for (let i = 0; i < count; i++) {
      const full: GeneratorConfig = { ...DEFAULT_GENERATOR_CONFIG, ...config, firstHive: (config.firstHive ?? 0) + i * 1_000_000 };
      const flags = profileDir ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}/generator-${i}`] : [];
      children.push(forkBench("load/generator-child.ts", [JSON.stringify(full)], { nodeFlags: flags }));
    }
    await Promise.all(children.map((c) => ChildRpc.waitFor(c, "ready", 60_000)));
    return new GeneratorFleet(children, children.map((c) => new ChildRpc(c)));
  }

  /** Scales the cluster to `hives` in total, split evenly; resolves once all are connected. */
  async scaleTo(hives: number, timeoutMs = 180_000): Promise<void> {
    const n = this.rpcs.length;
    await Promise.all(this.rpcs.map((rpc, i) => rpc.call("scale", { hives: Math.floor(hives / n) + (i < hives % n ? 1 : 0) }, timeoutMs)));
  }

  /** Stats of every generator since the previous call, merged. */
  async window(): Promise<MergedWindow> {
    const parts = await Promise.all(this.rpcs.map((rpc) => rpc.call<WindowStats & { samples: number[]; handshakeMs?: number[] }>("window", {}, 30_000)));
    const samples = parts.flatMap((p) => p.samples);
    const sum = (f: (p: WindowStats) => number) => parts.reduce((s, p) => s + f(p), 0);
    const seconds = Math.max(...parts.map((p) => p.seconds));
    return {
      seconds,
      hives: sum((p) => p.hives),
      connectedHives: sum((p) => p.connectedHives),
      sent: sum((p) => p.sent),
      acked: sum((p) => p.acked),
      skipped: sum((p) => p.skipped),
      streamErrors: sum((p) => p.streamErrors),
      ackRate: sum((p) => p.ackRate),
      latencyMs: summarize(samples),
      generatorCpu: sum((p) => p.cpuPerSec),
      handshakeMs: parts.flatMap((p) => p.handshakeMs ?? []),
    };
  }

  /** Stops every generator (goodbye, then exit); kills any that does not exit in time. */
  async stop(goodbye = true): Promise<void> {
    await Promise.all(this.rpcs.map((rpc) => rpc.call("stop", { goodbye }, 15_000).catch(() => {})));
    await Promise.all(this.children.map((c) => stopChild(c, 5_000)));
  }

  /** SIGKILLs every generator at once (a crash of all its hives). */
  kill(): void {
    for (const c of this.children) c.kill("SIGKILL");
  }
}
