import { create } from "@bufbuild/protobuf";
import {
  QueenService, FindDevicesRequestSchema, FindDevicesResponseSchema, DeviceOrder,
} from "../../../gen/apiary/v1/queen_pb.js";
import { defineCommand } from "../command.js";
import { queenFlags, hiveLabelFlag, includeDegradedFlag, limitFlag, minFreeVramFlag } from "../common-flags.js";
import { parseKeyValues, sizeFlag, intFlag, choiceFlag, numberFlag } from "../parse-values.js";
import { connect, rpcFailure } from "../rpc-client.js";
import { plural } from "../format.js";
import { outputFlags, outputFormat } from "../output/output-format.js";
import { printListing } from "../output/print-list.js";
import { deviceColumns, deviceName } from "../output/device-columns.js";

const ORDERS = { "most-free-vram": DeviceOrder.MOST_FREE_VRAM, "least-utilized": DeviceOrder.LEAST_UTILIZED };

export const devicesCommand = defineCommand({
  name: "devices",
  usage: "apiary devices [--min-free-vram 8GiB] [--hive-label k=v]… [-o wide|json|yaml|name]",
  flags: [
    ...queenFlags, ...outputFlags, minFreeVramFlag,
    { name: "max-util", type: "string", value: "PCT", help: "only GPUs at most this busy (0-100)" },
    hiveLabelFlag, includeDegradedFlag, limitFlag,
    { name: "order", type: "string", value: "O", help: "most-free-vram|least-utilized [default: by hive, index]" },
    { name: "hive", type: "string", value: "ID", multiple: true, help: "only GPUs of this hive" },
    { name: "include-unhealthy", type: "boolean", help: "also list GPUs their hive judged UNHEALTHY (HEALTH column; -o wide shows the reasons)" },
  ],
  async run({ flags }) {
    const format = outputFormat(flags);
    const request = create(FindDevicesRequestSchema, {
      minFreeVramBytes: sizeFlag("min-free-vram", flags["min-free-vram"]) ?? 0n,
      maxUtilizationPct: numberFlag("max-util", flags["max-util"], 0, 100),
      hiveLabels: parseKeyValues("hive-label", flags["hive-label"], true),
      includeDegraded: flags["include-degraded"] === true,
      limit: intFlag("limit", flags.limit, 0, 1000),
      order: choiceFlag("order", flags.order, ORDERS),
      hiveIds: flags.hive,
      includeUnhealthyGpus: flags["include-unhealthy"] === true,
    });
    const { client, url, timeoutMs } = await connect(QueenService, flags);
    const res = await client.findDevices(request, { timeoutMs }).catch((err) => {
      throw rpcFailure(err, "queen", url);
    });
    await printListing({
      format, schema: FindDevicesResponseSchema, message: res, rows: res.matches, columns: deviceColumns, name: deviceName,
      footer: `${res.matches.length} of ${plural(res.totalMatches, "matching GPU")}, revision ${res.revision}`,
    });
    return 0;
  },
});
