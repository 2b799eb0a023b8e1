import { create } from "@bufbuild/protobuf";
import { QueenService, ListHivesRequestSchema, ListHivesResponseSchema } from "../../../gen/apiary/v1/queen_pb.js";
import type { Command } from "../command.js";
import { queenFlag } from "../common-flags.js";
import { parseKeyValues } from "../parse-values.js";
import { connect, rpcFailure, CALL_TIMEOUT_MS } from "../rpc-client.js";
import { plural } from "../format.js";
import { outputFlags, outputFormat } from "../output/output-format.js";
import { printListing } from "../output/print-list.js";
import { hiveColumns, hiveName } from "../output/hive-columns.js";

export const hivesCommand: Command = {
  name: "hives",
  summary: "list every hive the queen knows (ListHives)",
  usage: "apiary hives [-l k=v]… [-o wide|json|yaml|name]",
  flags: [
    queenFlag, ...outputFlags,
    { name: "label", short: "l", type: "string", value: "K=V", multiple: true, help: "only hives carrying this label (K=V[,K=V…])" },
  ],
  async run({ flags }) {
    const format = outputFormat(flags);
    const request = create(ListHivesRequestSchema, {
      hiveLabels: parseKeyValues("label", flags.label as string[], true),
      omitWorkers: false,
    });
    const { client, url } = connect(QueenService, flags.queen as string);
    const res = await client.listHives(request, { timeoutMs: CALL_TIMEOUT_MS }).catch((err) => {
      throw rpcFailure(err, "queen", url);
    });
    printListing({
      format, schema: ListHivesResponseSchema, message: res,
      rows: res.hives, columns: hiveColumns, name: hiveName,
      footer: `${plural(res.hives.length, "hive")}, revision ${res.revision}`,
    });
    return 0;
  },
};
