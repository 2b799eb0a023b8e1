import { create } from "@bufbuild/protobuf";
import { HiveService, SpawnWorkerRequestSchema } from "../../../gen/apiary/v1/hive_pb.js";
import { ResourceLimitsSchema, WorkerTelemetrySchema } from "../../../gen/apiary/v1/telemetry_pb.js";
import { UsageError, defineCommand } from "../command.js";
import { queenFlags, hiveIdFlag, hiveAddrFlag } from "../common-flags.js";
import { parseKeyValues, sizeFlag, coresFlag, intFlag, choiceFlag } from "../parse-values.js";
import { RESTART_POLICIES } from "../describe/describe-format.js";
import { connect, rpcFailure } from "../rpc-client.js";
import { hiveTarget } from "../hive-target.js";
import { outputFlags, outputFormat } from "../output/output-format.js";
import { formatMessage } from "../output/print-list.js";

export const spawnCommand = defineCommand({
  name: "spawn",
  usage: "apiary spawn [--hive ID | --hive-addr ADDR] [--model M] [--memory-max 2GiB] [--cpu-max 1.5] [--gpus 0,1] [-l k=v]… -- CMD ARGS…",
  description: [
    "Without --hive or --hive-addr, the worker goes to the queen's only hive.",
    "--gpus takes GPU indexes (as CUDA_VISIBLE_DEVICES) or UUIDs; the hive checks them against its GPUs.",
  ].join("\n"),
  flags: [
    hiveIdFlag, hiveAddrFlag, ...queenFlags,
    ...outputFlags,
    { name: "model", type: "string", value: "M", help: "the model the worker serves [default: parsed from CMD]" },
    { name: "id", type: "string", value: "ID", help: "worker id, unique in the hive [default: generated]" },
    { name: "memory-max", type: "string", value: "SIZE", help: "memory limit (2GiB, 512MiB)" },
    { name: "cpu-max", type: "string", value: "CORES", help: "CPU limit in cores (1.5 = 150 %)" },
    { name: "pids-max", type: "string", value: "N", help: "process/thread limit" },
    { name: "gpus", type: "string", value: "GPUS", help: "comma-separated GPU indexes or UUIDs (sets CUDA_VISIBLE_DEVICES)" },
    { name: "env", type: "string", value: "K=V", multiple: true, help: "extra environment variable" },
    { name: "label", short: "l", type: "string", value: "K=V", multiple: true, help: "label reported with the worker" },
    { name: "cwd", type: "string", value: "DIR", help: "working directory on the hive's machine" },
    { name: "restart", type: "string", value: "POLICY", default: "never", help: "never | on-failure | always: start the worker again when it ends (with back-off)" },
  ],
  async run({ flags, rest, positionals }) {
    const format = outputFormat(flags, ["table", "json", "yaml", "name"]);
    const argv = rest.length > 0 ? rest : positionals;
    if (argv.length === 0) throw new UsageError("apiary spawn: give the command after --, e.g. apiary spawn -- python serve.py");
    const memoryMax = sizeFlag("memory-max", flags["memory-max"]);
    const cpuMax = coresFlag("cpu-max", flags["cpu-max"]);
    const pidsMax = intFlag("pids-max", flags["pids-max"], 1, 4_194_304);
    const request = create(SpawnWorkerRequestSchema, {
      argv,
      model: (flags.model) ?? "",
      workerId: (flags.id) ?? "",
      env: parseKeyValues("env", flags.env),
      labels: parseKeyValues("label", flags.label),
      cwd: (flags.cwd) ?? "",
      gpuUuids: ((flags.gpus) ?? "").split(",").map((s) => s.trim()).filter(Boolean),
      limits: create(ResourceLimitsSchema, { memoryMaxBytes: memoryMax, cpuMaxMillicores: cpuMax, pidsMax }),
      restartPolicy: choiceFlag("restart", flags.restart, RESTART_POLICIES),
    });
    const target = await hiveTarget(flags);
    const { client, url, timeoutMs } = await connect(HiveService, flags, target);
    const res = await client.spawnWorker(request, { timeoutMs }).catch((err) => {
      throw rpcFailure(err, "hive", url);
    });
    const w = res.worker!;
    if (format === "json" || format === "yaml") {
      process.stdout.write(await formatMessage(WorkerTelemetrySchema, w, format));
      return 0;
    }
    const hiveId = target.hiveId;
    if (format === "name") {
      process.stdout.write(`worker/${hiveId ? `${hiveId}/` : ""}${w.workerId}\n`);
      return 0;
    }
    const gpus = w.gpuUuids.length > 0 ? `, GPUs ${w.gpuUuids.join(",")}` : "";
    process.stdout.write(`started ${w.workerId}${hiveId ? ` on ${hiveId}` : ""} (pid ${w.pid}, model ${w.model || "-"}${gpus})\nlog: ${w.logPath}\n`);
    for (const e of w.errors) process.stdout.write(`warning: ${e.source}: ${e.message}\n`);
    return 0;
  },
});
