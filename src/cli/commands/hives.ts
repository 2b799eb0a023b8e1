import { create, toJsonString } from "@bufbuild/protobuf";
import { QueenService, ListHivesRequestSchema, ListHivesResponseSchema } from "../../../gen/apiary/v1/queen_pb.js";
import type { Command } from "../command.js";
import { queenFlags, jsonFlag, labelFilterFlag } from "../common-flags.js";
import { parseKeyValues } from "../parse-values.js";
import { connect, rpcFailure } from "../rpc-client.js";
import { renderTable } from "../table.js";
import { ago, health, labels, probeState } from "../format.js";

export const hivesCommand: Command = {
  name: "hives",
  summary: "list every hive the queen knows (ListHives)",
  usage: "apiary hives [--label k=v]… [--json]",
  flags: [...queenFlags, jsonFlag, labelFilterFlag],
  async run({ flags }) {
    const request = create(ListHivesRequestSchema, {
      hiveLabels: parseKeyValues("label", flags.label as string[]),
      omitWorkers: false,
    });
    const { client, url, timeoutMs } = connect(QueenService, flags);
    const res = await client.listHives(request, { timeoutMs }).catch((err) => {
      throw rpcFailure(err, "queen", url);
    });
    if (flags.json) {
      process.stdout.write(toJsonString(ListHivesResponseSchema, res, { prettySpaces: 2 }) + "\n");
      return 0;
    }
    const rows = res.hives.map((h) => [
      h.info?.hiveId ?? "", health(h.health), ago(h.lastSeen), String(h.devices.length), String(h.workers.length),
      probeState(h.gpuProbe?.state), h.info?.endpoint ?? "", h.info?.cgroupMode ?? "", h.info?.version ?? "",
      labels(h.info?.labels ?? {}),
    ]);
    process.stdout.write(renderTable(
      ["HIVE", "HEALTH", "LAST SEEN", ">GPUS", ">WORKERS", "GPU PROBE", "ENDPOINT", "CGROUPS", "VERSION", "LABELS"],
      rows,
    ));
    for (const h of res.hives) {
      const d = h.departure;
      if (d) process.stdout.write(`${h.info?.hiveId ?? ""}: stopped ${ago(d.leftAt)} leaving ${d.workersLeftRunning} worker(s) running (${d.reason || "no reason given"}); listed until it is back or evicted\n`);
      for (const e of h.errors) process.stdout.write(`${h.info?.hiveId ?? ""}: ${e.source}: ${e.message}\n`);
    }
    process.stdout.write(`${res.hives.length} hives, revision ${res.revision}\n`);
    return 0;
  },
};
