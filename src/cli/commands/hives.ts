import { create } from "@bufbuild/protobuf";
import { QueenService, ListHivesRequestSchema, ListHivesResponseSchema } from "../../../gen/apiary/v1/queen_pb.js";
import { defineCommand } from "../command.js";
import { queenFlags } from "../common-flags.js";
import { parseKeyValues } from "../parse-values.js";
import { connect, rpcFailure } from "../rpc-client.js";
import { ago, plural } from "../format.js";
import type { HiveStatus } from "../../../gen/apiary/v1/queen_pb.js";
import { outputFlags, outputFormat } from "../output/output-format.js";
import { printListing } from "../output/print-list.js";
import { hiveColumns, hiveName } from "../output/hive-columns.js";

export const hivesCommand = defineCommand({
  name: "hives",
  usage: "apiary hives [-l k=v]… [-o wide|json|yaml|name]",
  flags: [
    ...queenFlags, ...outputFlags,
    { name: "label", short: "l", type: "string", value: "K=V", multiple: true, help: "only hives carrying this label (K=V[,K=V…])" },
  ],
  async run({ flags }) {
    const format = outputFormat(flags);
    const request = create(ListHivesRequestSchema, {
      hiveLabels: parseKeyValues("label", flags.label, true),
      omitWorkers: false,
    });
    const { client, url, timeoutMs } = await connect(QueenService, flags);
    const res = await client.listHives(request, { timeoutMs }).catch((err) => {
      throw rpcFailure(err, "queen", url);
    });
    await printListing({
      format, schema: ListHivesResponseSchema, message: res,
      rows: res.hives, columns: hiveColumns, name: hiveName,
      footer: [...res.hives.flatMap(notes), `${plural(res.hives.length, "hive")}, revision ${res.revision}`].join("\n"),
    });
    return 0;
  },
});

/** Lines under the table: a hive that left with workers running, and its collection errors. */
function notes(h: HiveStatus): string[] {
  const id = h.info?.hiveId ?? "";
  const d = h.departure;
  const lines = d
    ? [`${id}: stopped ${ago(d.leftAt)} leaving ${plural(d.workersLeftRunning, "worker")} running (${d.reason || "no reason given"}); listed until it is back or evicted`]
    : [];
  for (const e of h.errors) lines.push(`${id}: ${e.source}: ${e.message}`);
  return lines;
}
