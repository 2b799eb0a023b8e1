import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { HiveService, StopWorkerRequestSchema } from "../../../gen/apiary/v1/hive_pb.js";
import { UsageError, defineCommand } from "../command.js";
import { queenFlags, hiveIdFlag, hiveAddrFlag } from "../common-flags.js";
import { durationFlag } from "../parse-values.js";
import { connect, rpcFailure } from "../rpc-client.js";
import { workerHiveTarget } from "../hive-target.js";
import { workerState } from "../format.js";

export const stopCommand = defineCommand({
  name: "stop",
  usage: "apiary stop WORKER [--hive ID | --hive-addr ADDR] [--grace 10s]",
  description: [
    "WORKER is a worker id, HIVE/WORKER, or worker/HIVE/WORKER as `apiary workers -o name` prints it.",
    "Without a hive, the queen is asked which hive runs WORKER.",
  ].join("\n"),
  flags: [
    hiveIdFlag, hiveAddrFlag, ...queenFlags,
    { name: "grace", type: "string", value: "DUR", default: "10s", help: "time between SIGTERM and SIGKILL" },
  ],
  async run({ flags, positionals }) {
    if (positionals.length !== 1) throw new UsageError("apiary stop: give exactly one WORKER id");
    const { hiveId, workerId } = parseWorkerName(positionals[0]);
    if (hiveId !== undefined && flags.hive !== undefined && flags.hive !== hiveId) {
      throw new UsageError(`apiary stop: ${positionals[0]} names hive ${hiveId}, --hive names ${String(flags.hive)}`);
    }
    const graceMs = durationFlag("grace", flags.grace)!;
    const target = await workerHiveTarget({ ...flags, hive: flags.hive ?? hiveId }, workerId);
    const { client, url, timeoutMs } = await connect(HiveService, flags, target);
    const res = await client
      .stopWorker(create(StopWorkerRequestSchema, { workerId, gracePeriod: durationFromMs(graceMs) }), {
        timeoutMs: graceMs + timeoutMs,
      })
      .catch((err) => {
        throw rpcFailure(err, "hive", url);
      });
    const w = res.worker!;
    // A re-adopted worker is not the hive's child: its exit status cannot be known.
    const how = w.exitSignal ? `signal ${w.exitSignal}` : w.exitCode !== undefined ? `exit code ${w.exitCode}` : "exit status unknown: re-adopted after a hive restart";
    process.stdout.write(`stopped ${w.workerId}${target.hiveId ? ` on ${target.hiveId}` : ""}: ${workerState(w.state)} (${how})\n`);
    return 0;
  },
});

/** "w", "hive/w" or "worker/hive/w". */
export function parseWorkerName(name: string): { hiveId?: string; workerId: string } {
  const parts = name.replace(/^worker\//, "").split("/");
  if (parts.length === 1 && parts[0] !== "") return { workerId: parts[0] };
  if (parts.length === 2 && parts[0] !== "" && parts[1] !== "") return { hiveId: parts[0], workerId: parts[1] };
  throw new UsageError(`apiary stop: ${name}: expected WORKER, HIVE/WORKER or worker/HIVE/WORKER`);
}
