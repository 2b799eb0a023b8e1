import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { HiveService, StopWorkerRequestSchema } from "../../../gen/apiary/v1/hive_pb.js";
import { QueenService } from "../../../gen/apiary/v1/queen_pb.js";
import { CliError, UsageError, type Command, type ParsedArgs } from "../command.js";
import { queenFlags } from "../common-flags.js";
import { durationFlag } from "../parse-values.js";
import { connect, rpcFailure } from "../rpc-client.js";
import { workerState } from "../format.js";

export const stopCommand: Command = {
  name: "stop",
  summary: "stop a worker (StopWorker): SIGTERM, then SIGKILL after the grace period",
  usage: "apiary stop WORKER [--hive ADDR | --queen ADDR] [--grace 10s]",
  description: "Without --hive, the queen is asked which hive runs WORKER.",
  flags: [
    { name: "hive", type: "string", value: "ADDR", env: "APIARY_HIVE", help: "address of the worker's hive" },
    ...queenFlags,
    { name: "grace", type: "string", value: "DUR", default: "10s", help: "time between SIGTERM and SIGKILL" },
  ],
  async run({ flags, positionals }) {
    const workerId = positionals[0];
    if (!workerId || positionals.length > 1) throw new UsageError("apiary stop: give exactly one WORKER id");
    const graceMs = durationFlag("grace", flags.grace as string)!;
    const hive = (flags.hive as string | undefined) ?? (await hiveOf(workerId, flags));
    const { client, url, timeoutMs } = connect(HiveService, flags, hive);
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
    process.stdout.write(`stopped ${w.workerId}: ${workerState(w.state)} (${how})\n`);
    return 0;
  },
};

/** Asks the queen for the endpoint of the hive running workerId. */
export async function hiveOf(workerId: string, flags: ParsedArgs["flags"]): Promise<string> {
  const { client, url, timeoutMs } = connect(QueenService, flags);
  const res = await client.listHives({}, { timeoutMs }).catch((err) => {
    throw rpcFailure(err, "queen", url);
  });
  const hits = res.hives.filter((h) => h.workers.some((w) => w.workerId === workerId));
  if (hits.length === 0) throw new CliError(`no hive known to the queen at ${url} runs a worker ${workerId}`);
  if (hits.length > 1) {
    throw new CliError(`worker ${workerId} exists on several hives (${hits.map((h) => h.info?.hiveId).join(", ")}): pass --hive`);
  }
  return hits[0].info!.endpoint;
}
