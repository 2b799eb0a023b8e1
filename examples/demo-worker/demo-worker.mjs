#!/usr/bin/env node
// A small stand-in for an LLM worker, for demos and tests of the hive: it holds
// memory, burns CPU, writes to disk and forks children as told, and exits
// cleanly on SIGTERM (unless told to ignore it).
//
//   --model M                  the model it pretends to serve (printed only)
//   --memory 256MiB            memory to allocate and touch (B, KiB, MiB, GiB)
//   --cpu 0.2                  fraction of one core the main thread burns (duty cycle)
//   --threads N                extra threads each burning a whole core
//   --io-write-mb-per-sec N    writes and fsyncs a temp file at that rate
//   --children N               child processes (each a demo-worker with --cpu <child-cpu>)
//   --child-cpu F              CPU fraction of each child (default 0)
//   --detach-children          children get their own session and process group
//   --ignore-sigterm           SIGTERM does nothing (children ignore it too)
//   --exit-after-ms T          exit on its own after T ms …
//   --exit-code C              … with this code (default 0)
//   --engine vllm              serve a vLLM-format /metrics (see engine-metrics.mjs) on …
//   --engine-port N            … this port on 127.0.0.1 (default 8000; env DEMO_ENGINE_PORT)
//   --engine-load L            "RUNNING,WAITING" or "wave" (default; env DEMO_ENGINE_LOAD);
//                              POST /load with the same text changes it while running
//   --token-ms T               engine mode also serves an OpenAI-like API (openai-api.mjs) on the
//                              same port: one token every T ms when idle (default 20) …
//   --max-running N            … at most N requests running, background load included (default 16) …
//   --prefill-ms T             … and T ms before the first token of a prompt not in its prefix cache (default 0)
import { spawn } from "node:child_process";
import { closeSync, fsyncSync, ftruncateSync, openSync, unlinkSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { fileURLToPath } from "node:url";
import { startEngineMetrics } from "./engine-metrics.mjs";

const BOOLEAN_FLAGS = new Set(["detach-children", "ignore-sigterm"]);

function parseArgs(argv) {
  const opts = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith("--")) throw new Error(`unexpected argument: ${arg}`);
    const eq = arg.indexOf("=");
    const name = eq > 0 ? arg.slice(2, eq) : arg.slice(2);
    if (BOOLEAN_FLAGS.has(name)) opts[name] = true;
    else if (eq > 0) opts[name] = arg.slice(eq + 1);
    else if (i + 1 < argv.length) opts[name] = argv[++i];
    else throw new Error(`${arg}: missing value`);
  }
  return opts;
}

function parseBytes(text) {
  const match = /^(\d+(?:\.\d+)?)\s*(B|K|KB|KiB|M|MB|MiB|G|GB|GiB)?$/i.exec(String(text));
  if (!match) throw new Error(`--memory: not a size: ${text}`);
  const unit = (match[2] ?? "B").toUpperCase().replace("IB", "").replace(/B$/, "");
  const factor = { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[unit];
  return Math.round(Number(match[1]) * factor);
}

const opts = parseArgs(process.argv.slice(2));
const timers = [];
const cleanups = [];

function shutdown(code) {
  for (const cleanup of cleanups) {
    try {
      cleanup();
    } catch {
      // best effort on the way out
    }
  }
  process.exit(code);
}

if (opts["ignore-sigterm"]) process.on("SIGTERM", () => console.log("demo-worker: ignoring SIGTERM"));
else process.on("SIGTERM", () => shutdown(0));
process.on("SIGINT", () => shutdown(0));

// Memory: allocated in 16 MiB chunks and touched, so RSS really grows (and a limit is really hit).
const held = [];
if (opts.memory) {
  let left = parseBytes(opts.memory);
  while (left > 0) {
    const size = Math.min(left, 16 * 1024 * 1024);
    held.push(Buffer.alloc(size).fill(1));
    left -= size;
  }
}

// CPU: busy for `fraction` of every 100 ms.
const cpuFraction = Number(opts.cpu ?? 0);
if (cpuFraction > 0) {
  const burn = () => {
    const until = Date.now() + Math.min(100, cpuFraction * 100);
    while (Date.now() < until) {
      // spin
    }
    timers.push(setTimeout(burn, Math.max(0, 100 - cpuFraction * 100)));
  };
  burn();
}

const threads = Number(opts.threads ?? 0);
for (let i = 0; i < threads; i++) {
  const worker = new Worker("for (;;) {}", { eval: true });
  worker.unref();
}

// Disk: write and fsync every 100 ms; the file is truncated before it grows past 64 MiB.
const ioRate = Number(opts["io-write-mb-per-sec"] ?? 0);
if (ioRate > 0) {
  const path = join(tmpdir(), `demo-worker-${process.pid}.dat`);
  const fd = openSync(path, "w");
  cleanups.push(() => {
    closeSync(fd);
    unlinkSync(path);
  });
  const chunk = Buffer.alloc(Math.max(1, Math.round((ioRate * 1024 * 1024) / 10)), 7);
  let written = 0;
  timers.push(
    setInterval(() => {
      if (written > 64 * 1024 * 1024) {
        ftruncateSync(fd, 0);
        written = 0;
      }
      written += writeSync(fd, chunk, 0, chunk.length, written);
      fsyncSync(fd);
    }, 100),
  );
}

const children = Number(opts.children ?? 0);
for (let i = 0; i < children; i++) {
  const args = [fileURLToPath(import.meta.url), "--cpu", String(opts["child-cpu"] ?? 0)];
  if (opts["ignore-sigterm"]) args.push("--ignore-sigterm");
  spawn(process.execPath, args, { stdio: "inherit", detached: Boolean(opts["detach-children"]) }).unref();
}

if (opts["exit-after-ms"] !== undefined) {
  setTimeout(() => shutdown(Number(opts["exit-code"] ?? 0)), Number(opts["exit-after-ms"]));
}

let engineNote = "";
if (opts.engine !== undefined) {
  if (opts.engine !== "vllm") throw new Error(`--engine: only "vllm" is simulated, got ${opts.engine}`);
  const port = await startEngineMetrics({
    port: opts["engine-port"] ?? process.env.DEMO_ENGINE_PORT ?? 8000,
    model: opts.model ?? "demo-model",
    load: opts["engine-load"] ?? process.env.DEMO_ENGINE_LOAD ?? "wave",
    api: { tokenMs: Number(opts["token-ms"] ?? 20), maxRunning: Number(opts["max-running"] ?? 16), prefillMs: Number(opts["prefill-ms"] ?? 0) },
  });
  engineNote = ` engine=vllm metrics=http://127.0.0.1:${port}/metrics openai=http://127.0.0.1:${port}/v1`;
}

timers.push(setInterval(() => {}, 60_000));
console.log(`demo-worker ready pid=${process.pid} model=${opts.model ?? ""} held=${held.length} chunks${engineNote}`);
