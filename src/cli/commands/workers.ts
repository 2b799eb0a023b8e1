import { create, toJsonString } from "@bufbuild/protobuf";
import {
  QueenService, FindWorkersRequestSchema, FindWorkersResponseSchema, WorkerOrder,
} from "../../../gen/apiary/v1/queen_pb.js";
import { WorkerState } from "../../../gen/apiary/v1/telemetry_pb.js";
import type { Command } from "../command.js";
import { queenFlags, jsonFlag, labelFilterFlag, includeDegradedFlag, limitFlag, minFreeVramFlag } from "../common-flags.js";
import { parseKeyValues, sizeFlag, intFlag, choiceFlag, numberFlag } from "../parse-values.js";
import { connect, rpcFailure } from "../rpc-client.js";
import { engineCells, ENGINE_HEADERS } from "../engine-columns.js";
import { renderTable } from "../table.js";
import { bytes, pct, rate, health, workerState } from "../format.js";

const ORDERS = { "most-free-vram": WorkerOrder.MOST_FREE_VRAM, "least-utilized": WorkerOrder.LEAST_UTILIZED, "least-loaded": WorkerOrder.LEAST_LOADED };
const STATES = {
  starting: WorkerState.STARTING, running: WorkerState.RUNNING, exited: WorkerState.EXITED, failed: WorkerState.FAILED, backoff: WorkerState.BACKOFF,
};

export const workersCommand: Command = {
  name: "workers",
  summary: "find workers (FindWorkers): by model, free VRAM, idleness, labels",
  usage: "apiary workers [--model M] [--min-free-vram 8GiB] [--idle] [--label k=v]… [flags]",
  flags: [
    ...queenFlags, jsonFlag,
    { name: "model", type: "string", value: "M", help: "only workers serving exactly this model" },
    minFreeVramFlag,
    { name: "idle", type: "boolean", help: "only idle workers: no request running or waiting by engine metrics, else GPU at most 5 %" },
    { name: "max-waiting", type: "string", value: "N", help: "only workers whose engine has at most N requests waiting" },
    { name: "max-kv", type: "string", value: "RATIO", help: "only workers whose engine KV-cache use is at most this (0-1)" },
    { name: "max-gpu-util", type: "string", value: "PCT", help: "only workers at most this GPU-busy (0-100)" },
    labelFilterFlag, includeDegradedFlag, limitFlag,
    { name: "state", type: "string", value: "S", help: "starting|running|exited|failed [default: running]" },
    { name: "order", type: "string", value: "O", help: "most-free-vram|least-utilized|least-loaded [default: by hive, worker]" },
    { name: "hive", type: "string", value: "ID", multiple: true, help: "only workers of this hive" },
  ],
  async run({ flags }) {
    const maxUtil = numberFlag("max-gpu-util", flags["max-gpu-util"] as string | undefined, 0, 100);
    const request = create(FindWorkersRequestSchema, {
      model: (flags.model as string | undefined) ?? "",
      idleOnly: flags.idle === true,
      maxGpuUtilizationPct: maxUtil,
      minFreeVramBytes: sizeFlag("min-free-vram", flags["min-free-vram"] as string | undefined) ?? 0n,
      hiveLabels: parseKeyValues("label", flags.label as string[]),
      includeDegraded: flags["include-degraded"] === true,
      state: choiceFlag("state", flags.state as string | undefined, STATES),
      limit: intFlag("limit", flags.limit as string | undefined, 0, 1000),
      order: choiceFlag("order", flags.order as string | undefined, ORDERS),
      hiveIds: flags.hive as string[],
      maxRequestsWaiting: intFlag("max-waiting", flags["max-waiting"] as string | undefined, 0, 2 ** 32 - 1),
      maxKvCacheUsageRatio: numberFlag("max-kv", flags["max-kv"] as string | undefined, 0, 1),
    });
    const { client, url, timeoutMs } = connect(QueenService, flags);
    const res = await client.findWorkers(request, { timeoutMs }).catch((err) => {
      throw rpcFailure(err, "queen", url);
    });
    if (flags.json) {
      process.stdout.write(toJsonString(FindWorkersResponseSchema, res, { prettySpaces: 2 }) + "\n");
      return 0;
    }
    const rows = res.matches.map((m) => {
      const w = m.worker!;
      return [
        m.hiveId, w.workerId, w.model || "-", workerState(w.state), String(w.pid),
        pct(w.cpuPct), bytes(w.memoryRssBytes), rate(w.ioReadBytesPerSec), rate(w.ioWriteBytesPerSec),
        pct(w.gpuUtilizationPct), bytes(w.vramUsedBytes), bytes(m.freeVramBytes), ...engineCells(w), health(m.health), w.reason || "-",
      ];
    });
    process.stdout.write(renderTable(
      ["HIVE", "WORKER", "MODEL", "STATE", ">PID", ">CPU", ">MEM", ">READ", ">WRITE", ">GPU", ">VRAM", ">FREE VRAM", ...ENGINE_HEADERS, "HEALTH", "REASON"],
      rows,
    ));
    process.stdout.write(`${res.matches.length} of ${res.totalMatches} matching workers, revision ${res.revision}\n`);
    return 0;
  },
};
