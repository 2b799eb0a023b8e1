import { toJson } from "@bufbuild/protobuf";
import { JSON_OPTIONS } from "../output/print-list.js";
import { QueenService } from "../../../gen/apiary/v1/queen_pb.js";
import { GpuDeviceSchema } from "../../../gen/apiary/v1/telemetry_pb.js";
import { CliError, UsageError, defineCommand } from "../command.js";
import { queenFlags } from "../common-flags.js";
import { formatHive, formatWorker } from "../describe/describe-format.js";
import { formatDevice } from "../describe/describe-gpu.js";
import { hiveDocument, renderDocument, workerDocument } from "../describe/describe-output.js";
import { outputFlag, jsonFlag, outputFormat } from "../output/output-format.js";
import { intFlag } from "../parse-values.js";
import { connect, rpcFailure } from "../rpc-client.js";

export const describeCommand = defineCommand({
  name: "describe",
  usage: "apiary describe hive HIVE_ID | worker WORKER_ID [--hive-id H] | device GPU_UUID [--events N] [-o json|yaml]",
  description: "Events (health changes, restarts, exits, OOM kills, collection errors) are kept by the queen, a few per object, while it knows the object.",
  flags: [
    ...queenFlags,
    { name: "hive-id", type: "string", value: "H", help: "the worker's hive, when several hives run a worker of that id" },
    { name: "events", type: "string", value: "N", default: "20", help: "show at most the N newest events" },
    { ...outputFlag, help: "json|yaml: everything known (every field, zero values included) and the events, for scripts" },
    jsonFlag,
  ],
  async run({ flags, positionals }) {
    const [kind, id, ...extra] = positionals;
    if ((kind !== "hive" && kind !== "worker" && kind !== "device") || !id || extra.length > 0) {
      throw new UsageError("apiary describe: give hive HIVE_ID, worker WORKER_ID or device GPU_UUID");
    }
    const limit = intFlag("events", flags.events, 0, 1000)!;
    const format = outputFormat(flags, ["table", "json", "yaml"]);
    const { client, url, timeoutMs } = await connect(QueenService, flags);
    const fail = (err: unknown): never => {
      throw rpcFailure(err, "queen", url);
    };
    if (kind === "hive") {
      const [hive, events] = await Promise.all([
        client.getHive({ hiveId: id }, { timeoutMs }).catch(fail),
        client.listEvents({ hiveId: id, limit }, { timeoutMs }).catch(fail),
      ]);
      if (format !== "table") {
        process.stdout.write(await renderDocument(hiveDocument(hive.hive!, events), format));
      } else {
        process.stdout.write(formatHive(hive.hive!, events.events));
      }
      return 0;
    }
    const hives = await client.listHives({}, { timeoutMs }).catch(fail);
    const wanted = flags["hive-id"];
    if (kind === "device") {
      const found = hives.hives.flatMap((h) => h.devices.filter((d) => d.uuid === id && (wanted === undefined || h.info?.hiveId === wanted)).map((d) => ({ hiveId: h.info!.hiveId, device: d })));
      if (found.length === 0) throw new CliError(`no hive known to the queen at ${url} reports a GPU ${id}`);
      const { hiveId, device } = found[0];
      process.stdout.write(format === "table" ? formatDevice(hiveId, device) : await renderDocument({ kind: "device", hiveId, device: toJson(GpuDeviceSchema, device, JSON_OPTIONS) }, format));
      return 0;
    }
    const hits = hives.hives.flatMap((h) =>
      wanted !== undefined && h.info?.hiveId !== wanted ? [] : h.workers.filter((w) => w.workerId === id).map((w) => ({ hiveId: h.info!.hiveId, worker: w })),
    );
    if (hits.length === 0) throw new CliError(`no hive known to the queen at ${url} runs a worker ${id}`);
    if (hits.length > 1) throw new CliError(`worker ${id} exists on several hives (${hits.map((h) => h.hiveId).join(", ")}): pass --hive-id`);
    const { hiveId, worker } = hits[0];
    const events = await client.listEvents({ hiveId, workerId: id, limit }, { timeoutMs }).catch(fail);
    if (format !== "table") {
      process.stdout.write(await renderDocument(workerDocument(hiveId, worker, events), format));
    } else {
      process.stdout.write(formatWorker(hiveId, worker, events.events));
    }
    return 0;
  },
});
