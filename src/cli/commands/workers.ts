import { create } from "@bufbuild/protobuf";
import {
  QueenService, FindWorkersRequestSchema, FindWorkersResponseSchema, WorkerOrder,
} from "../../../gen/apiary/v1/queen_pb.js";
import { WorkerState } from "../../../gen/apiary/v1/telemetry_pb.js";
import { defineCommand } from "../command.js";
import { queenFlags, hiveLabelFlag, workerLabelFlag, includeDegradedFlag, limitFlag, minFreeVramFlag } from "../common-flags.js";
import { parseKeyValues, sizeFlag, intFlag, choiceFlag, numberFlag } from "../parse-values.js";
import { connect, rpcFailure } from "../rpc-client.js";
import { plural } from "../format.js";
import { outputFlags, outputFormat } from "../output/output-format.js";
import { printListing } from "../output/print-list.js";
import { workerColumns, workerName } from "../output/worker-columns.js";

const ORDERS = { "most-free-vram": WorkerOrder.MOST_FREE_VRAM, "least-utilized": WorkerOrder.LEAST_UTILIZED, "least-loaded": WorkerOrder.LEAST_LOADED };
const STATES = {
  starting: WorkerState.STARTING, running: WorkerState.RUNNING, exited: WorkerState.EXITED, failed: WorkerState.FAILED, backoff: WorkerState.BACKOFF,
};

export const workersCommand = defineCommand({
  name: "workers",
  usage: "apiary workers [--model M] [--min-free-vram 8GiB] [--idle] [-l k=v]… [--hive-label k=v]… [-o wide|json|yaml|name]",
  flags: [
    ...queenFlags, ...outputFlags,
    { name: "model", type: "string", value: "M", help: "only workers serving exactly this model" },
    minFreeVramFlag,
    { name: "idle", type: "boolean", help: "only idle workers: no request running or waiting by engine metrics, else GPU at most 5 %" },
    { name: "max-waiting", type: "string", value: "N", help: "only workers whose engine has at most N requests waiting" },
    { name: "max-kv", type: "string", value: "RATIO", help: "only workers whose engine KV-cache use is at most this (0-1)" },
    { name: "max-gpu-util", type: "string", value: "PCT", help: "only workers at most this GPU-busy (0-100)" },
    workerLabelFlag, hiveLabelFlag, includeDegradedFlag, limitFlag,
    { name: "state", type: "string", value: "S", help: "starting|running|exited|failed [default: running]" },
    { name: "order", type: "string", value: "O", help: "most-free-vram|least-utilized|least-loaded [default: by hive, worker]" },
    { name: "hive", type: "string", value: "ID", multiple: true, help: "only workers of this hive" },
  ],
  async run({ flags }) {
    const format = outputFormat(flags);
    const maxUtil = numberFlag("max-gpu-util", flags["max-gpu-util"], 0, 100);
    const request = create(FindWorkersRequestSchema, {
      model: (flags.model) ?? "",
      idleOnly: flags.idle === true,
      maxGpuUtilizationPct: maxUtil,
      minFreeVramBytes: sizeFlag("min-free-vram", flags["min-free-vram"]) ?? 0n,
      workerLabels: parseKeyValues("label", flags.label, true),
      hiveLabels: parseKeyValues("hive-label", flags["hive-label"], true),
      includeDegraded: flags["include-degraded"] === true,
      state: choiceFlag("state", flags.state, STATES),
      limit: intFlag("limit", flags.limit, 0, 1000),
      order: choiceFlag("order", flags.order, ORDERS),
      hiveIds: flags.hive,
      maxRequestsWaiting: intFlag("max-waiting", flags["max-waiting"], 0, 2 ** 32 - 1),
      maxKvCacheUsageRatio: numberFlag("max-kv", flags["max-kv"], 0, 1),
    });
    const { client, url, timeoutMs } = await connect(QueenService, flags);
    const res = await client.findWorkers(request, { timeoutMs }).catch((err) => {
      throw rpcFailure(err, "queen", url);
    });
    await printListing({
      format, schema: FindWorkersResponseSchema, message: res,
      rows: res.matches.filter((m) => m.worker !== undefined).map((m) => ({ ...m, worker: m.worker! })),
      columns: workerColumns, name: workerName,
      footer: `${res.matches.length} of ${plural(res.totalMatches, "matching worker")}, revision ${res.revision}`,
    });
    return 0;
  },
});
