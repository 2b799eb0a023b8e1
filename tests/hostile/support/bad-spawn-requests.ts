import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import { fileURLToPath } from "node:url";
import type { HiveService, SpawnWorkerRequestSchema } from "../../../gen/apiary/v1/hive_pb.js";
import type { RestartPolicy } from "../../../gen/apiary/v1/telemetry_pb.js";

// SpawnWorker requests an attacker holding the local credential might send, each with an otherwise
// runnable program (the campaign's allow-listed worker script), so a request the hive fails to
// refuse does start something. Each must be refused with a clear code; one that starts a worker is
// stopped at once and reported.

type Spawn = MessageInitShape<typeof SpawnWorkerRequestSchema>;

const SCRIPT = fileURLToPath(new URL("./hostile-worker.mjs", import.meta.url));
const RUNNABLE = [process.execPath, SCRIPT, "quiet"];
const UNCLEAR = [Code.Internal, Code.Unknown];

function cases(existing: string): [string, Spawn][] {
  const ok = (over: Spawn, id: string): Spawn => ({ workerId: `bad-${id}`, argv: RUNNABLE, ...over });
  return [
    ["empty argv", ok({ argv: [] }, "argv-empty")],
    ["a program found on PATH that is off the allow-list", { workerId: "bad-relative", argv: ["sleep", "600"] }],
    ["a program off the allow-list", { workerId: "bad-program", argv: ["/bin/true"] }],
    ["an interpreter without the allowed script", { workerId: "bad-interp", argv: [process.execPath, "-e", "setInterval(() => {}, 1e9)"] }],
    ["NUL in the program", ok({ argv: [`${process.execPath}\u0000x`, SCRIPT] }, "nul-program")],
    ["NUL in an argument", ok({ argv: [...RUNNABLE, "a\u0000b"] }, "nul-arg")],
    ["100,000 arguments", ok({ argv: [...RUNNABLE, ...Array.from({ length: 100_000 }, () => "x")] }, "argv-many")],
    ["a 3 MiB argument", ok({ argv: [...RUNNABLE, "y".repeat(3 * 1024 * 1024)] }, "argv-huge")],
    ["an empty env name", ok({ env: { "": "x" } }, "env-empty")],
    ["an env name with =", ok({ env: { "HF_A=B": "x" } }, "env-eq")],
    ["an env name with NUL", ok({ env: { "HF_A\u0000B": "x" } }, "env-nul")],
    ["an env value with NUL", ok({ env: { HF_HOME: "a\u0000b" } }, "env-value-nul")],
    ["LD_PRELOAD", ok({ env: { LD_PRELOAD: "/tmp/evil.so" } }, "env-ld")],
    ["an env name off the allow-list", ok({ env: { PATH_EVIL: "x" } }, "env-off")],
    ["a relative cwd", ok({ cwd: "relative/dir" }, "cwd-relative")],
    ["a cwd that does not exist", ok({ cwd: "/nonexistent/apiary-hostile" }, "cwd-missing")],
    ["NUL in cwd", ok({ cwd: "/tmp\u0000x" }, "cwd-nul")],
    ["a worker id with a path", ok({ workerId: "../escape" }, "")],
    ["a worker id with a slash", ok({ workerId: "a/b" }, "")],
    ["a 10,000-character worker id", ok({ workerId: "w".repeat(10_000) }, "")],
    ["a worker id with NUL", ok({ workerId: "w\u0000x" }, "")],
    ["the id of a running worker", ok({ workerId: existing }, "")],
    ["a GPU the hive does not have", ok({ gpuUuids: ["GPU-00000000-dead-beef-0000-000000000000"] }, "gpu-unknown")],
    ["an empty label key", ok({ labels: { "": "v" } }, "label-empty")],
    ["a 100 kB label value", ok({ labels: { k: "v".repeat(100_000) } }, "label-huge")],
    ["a restart policy out of range", ok({ restartPolicy: 99 as RestartPolicy }, "restart-99")],
    ["an engine metrics URL with file:", ok({ engineMetrics: { case: "engineMetricsUrl", value: "file:///etc/passwd" } }, "engine-file")],
    ["an engine metrics port over 65535", ok({ engineMetrics: { case: "engineMetricsPort", value: 70_000 } }, "engine-port")],
    ["a model with NUL", ok({ model: "m\u0000x" }, "model-nul")],
    ["limits of zero pids and zero memory", ok({ limits: { pidsMax: 0, memoryMaxBytes: 0n } }, "limits-zero")],
  ];
}

export async function badSpawnRequests(client: Client<typeof HiveService>, existing = "hw1"): Promise<{ failures: string[]; codes: Record<string, string> }> {
  const failures: string[] = [];
  const codes: Record<string, string> = {};
  for (const [name, request] of cases(existing)) {
    try {
      const res = await client.spawnWorker(request, { timeoutMs: 10_000 });
      codes[name] = "OK";
      failures.push(`${name}: started worker ${res.worker?.workerId} (pid ${res.worker?.pid})`);
      await client.stopWorker({ workerId: res.worker!.workerId }).catch(() => {});
    } catch (err) {
      const e = ConnectError.from(err);
      codes[name] = `${Code[e.code]}: ${e.rawMessage.slice(0, 120)}`;
      if (UNCLEAR.includes(e.code)) failures.push(`${name}: ${codes[name]}`);
    }
  }
  return { failures, codes };
}
