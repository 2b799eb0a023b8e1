import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { HiveService, StreamWorkerLogsRequestSchema } from "../../../gen/apiary/v1/hive_pb.js";
import { CliError, UsageError, defineCommand } from "../command.js";
import { queenFlags } from "../common-flags.js";
import { durationFlag, intFlag } from "../parse-values.js";
import { connect, rpcFailure } from "../rpc-client.js";
import { workerHiveTarget } from "../hive-target.js";
import { hiveIdFlag, hiveAddrFlag } from "../common-flags.js";

export const logsCommand = defineCommand({
  name: "logs",
  usage: "apiary logs WORKER [-f] [--tail N] [--since 10m] [--hive ID | --hive-addr ADDR]",
  description: [
    "Without --hive or --hive-addr, the queen is asked which hive runs WORKER.",
    "-f follows like tail -F (across logrotate's copytruncate and rotation by rename) until the",
    "worker ends for good or you press Ctrl-C. --since starts at the hive's last size checkpoint",
    "(one per tick) before that time: at most one tick of older output comes with it.",
  ].join("\n"),
  flags: [
    { name: "follow", short: "f", type: "boolean", help: "keep printing output as it is written" },
    { name: "tail", type: "string", value: "N", help: "only the last N lines" },
    { name: "since", type: "string", value: "DUR", help: "only output written in the last DUR (10m, 1h)" },
    hiveIdFlag, hiveAddrFlag,
    ...queenFlags,
  ],
  async run({ flags, positionals }) {
    const workerId = positionals[0];
    if (!workerId || positionals.length > 1) throw new UsageError("apiary logs: give exactly one WORKER id");
    const tailLines = intFlag("tail", flags.tail, 0, 1_000_000);
    const sinceMs = durationFlag("since", flags.since);
    const target = await workerHiveTarget(flags, workerId).catch((err: Error) => {
      throw err instanceof CliError && flags.hive === undefined ? new CliError(`${err.message} (for the log of a worker that ended, pass --hive)`) : err;
    });
    const { client, url } = await connect(HiveService, flags, target);
    const abort = new AbortController();
    const onSignal = (): void => abort.abort();
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
    const request = create(StreamWorkerLogsRequestSchema, {
      workerId,
      follow: flags.follow === true,
      tailLines,
      since: sinceMs === undefined ? undefined : durationFromMs(sinceMs),
    });
    try {
      let first = true;
      for await (const chunk of client.streamWorkerLogs(request, { signal: abort.signal })) {
        if (chunk.restarted && !first) process.stderr.write(`apiary: ${chunk.logPath} was truncated or replaced; reading it from the start\n`);
        first = false;
        if (!process.stdout.write(chunk.data)) await new Promise((resolve) => process.stdout.once("drain", resolve));
      }
    } catch (err) {
      if (abort.signal.aborted) return 0;
      throw rpcFailure(err, "hive", url);
    } finally {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    }
    return 0;
  },
});
