import { appendFileSync } from "node:fs";
import type { ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { ChildRpc, forkBench, stopChild } from "./children.js";

export interface ServerStats {
  rss: number;
  cpuSeconds: number;
  [key: string]: unknown;
}

/** A server process the bench started: its address, stats over IPC, and stop(). */
export interface BenchServer {
  readonly name: string;
  readonly address: string;
  readonly child: ChildProcess;
  stats(): Promise<ServerStats>;
  stop(): Promise<void>;
}

export interface QueenLogEvent {
  time: number;
  msg: string;
  hiveId?: string;
  from?: string;
  to?: string;
  cause?: string;
  lateMs?: number;
}

export interface QueenServer extends BenchServer {
  /** Every "hive health changed" and warning line of the queen's log since it started. */
  readonly events: QueenLogEvent[];
  onEvent(listener: (event: QueenLogEvent) => void): void;
}

export interface StartOptions {
  /** Write a CPU profile (node --cpu-prof) into this directory. */
  cpuProfileDir?: string;
  /** Extra node flags for the server process (e.g. --max-semi-space-size=64). */
  nodeFlags?: string[];
  /** Every line of the queen's stdout (e.g. its --trace-gc lines). */
  onStdoutLine?: (line: string) => void;
  /** Another checkout's queen child (absolute path), for an A/B against an older build. */
  queenChild?: string;
}

function profileFlags(opts: StartOptions, name: string): string[] {
  // One directory per process: tsx's loader thread writes its own profile beside the main thread's.
  return opts.cpuProfileDir ? ["--cpu-prof", `--cpu-prof-dir=${opts.cpuProfileDir}/${name}`] : [];
}

function wrap(name: string, child: ChildProcess, address: string): BenchServer {
  const rpc = new ChildRpc(child);
  return {
    name,
    address,
    child,
    stats: () => rpc.call<ServerStats>("stats", {}, 30_000),
    stop: () => stopChild(child, 10_000),
  };
}

/**
 * The bench's A/B switches for the queen's fast paths (src/rpc/fast-path.ts): APIARY_RAW_HEARTBEAT=0
 * or APIARY_RAW_WATCH=0 sends that method's plain gRPC streams through connect-node. Read here,
 * in the bench, and handed to the queen as its rawFastPaths option.
 */
function rawFastPathsFromEnv(): string[] | undefined {
  const off = [["Heartbeat", "APIARY_RAW_HEARTBEAT"], ["Watch", "APIARY_RAW_WATCH"]].filter(([, env]) => process.env[env] === "0").map(([method]) => method);
  return off.length === 0 ? undefined : ["Heartbeat", "Watch"].filter((m) => !off.includes(m));
}

/** Starts a queen (src/queen) in its own process with the given QueenConfig overrides. */
export async function startQueenServer(config: Record<string, unknown> = {}, opts: StartOptions = {}): Promise<QueenServer> {
  const rawFastPaths = rawFastPathsFromEnv();
  const options = rawFastPaths && config.rawFastPaths === undefined ? { ...config, rawFastPaths } : config;
  const child = forkBench(opts.queenChild ?? "servers/queen-child.ts", [JSON.stringify(options)], { pipeStdout: true, nodeFlags: [...profileFlags(opts, "queen"), ...(opts.nodeFlags ?? [])] });
  const events: QueenLogEvent[] = [];
  const listeners: ((e: QueenLogEvent) => void)[] = [];
  // APIARY_BENCH_QUEEN_STDOUT=FILE keeps the queen's whole stdout (e.g. with --queen-node-flags=--trace-gc).
  const keep = process.env.APIARY_BENCH_QUEEN_STDOUT;
  createInterface({ input: child.stdout! }).on("line", (line) => {
    if (keep) appendFileSync(keep, `${line}\n`);
    opts.onStdoutLine?.(line);
    if (!line.includes("hive health changed") && !line.includes('"level":40') && !line.includes('"level":50')) return;
    try {
      const event = JSON.parse(line) as QueenLogEvent;
      if (events.length < 100_000) events.push(event);
      for (const listener of listeners) listener(event);
    } catch {
      // not JSON
    }
  });
  const ready = await ChildRpc.waitFor<{ address: string }>(child, "ready", 60_000);
  return { ...wrap("queen", child, ready.address), events, onEvent: (l) => listeners.push(l) };
}

/** Starts the grpc-js decode-and-ack reference server. */
export async function startGrpcAckServer(opts: StartOptions = {}): Promise<BenchServer> {
  const child = forkBench("servers/grpc-ack-child.ts", [], { nodeFlags: profileFlags(opts, "grpc-ack") });
  const ready = await ChildRpc.waitFor<{ address: string }>(child, "ready", 60_000);
  return wrap("grpc-js ack server", child, ready.address);
}

/** Starts etcd on loopback (scripts/install-etcd.sh installs it). */
export async function startEtcdServer(): Promise<BenchServer> {
  const child = forkBench("servers/etcd-child.ts");
  const ready = await ChildRpc.waitFor<{ address: string }>(child, "ready", 60_000);
  return wrap("etcd", child, ready.address);
}
