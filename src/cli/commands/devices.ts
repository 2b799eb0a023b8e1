import { create, toJsonString } from "@bufbuild/protobuf";
import {
  QueenService, FindDevicesRequestSchema, FindDevicesResponseSchema, DeviceOrder,
} from "../../../gen/apiary/v1/queen_pb.js";
import type { Command } from "../command.js";
import { queenFlags, jsonFlag, labelFilterFlag, includeDegradedFlag, limitFlag, minFreeVramFlag } from "../common-flags.js";
import { parseKeyValues, sizeFlag, intFlag, choiceFlag, numberFlag } from "../parse-values.js";
import { connect, rpcFailure } from "../rpc-client.js";
import { renderTable } from "../table.js";
import { bytes, pct, health, DASH } from "../format.js";

const ORDERS = { "most-free-vram": DeviceOrder.MOST_FREE_VRAM, "least-utilized": DeviceOrder.LEAST_UTILIZED };

export const devicesCommand: Command = {
  name: "devices",
  summary: "find GPUs with room for a new worker (FindDevices)",
  usage: "apiary devices [--min-free-vram 8GiB] [--label k=v]… [flags]",
  flags: [
    ...queenFlags, jsonFlag, minFreeVramFlag,
    { name: "max-util", type: "string", value: "PCT", help: "only GPUs at most this busy (0-100)" },
    labelFilterFlag, includeDegradedFlag, limitFlag,
    { name: "order", type: "string", value: "O", help: "most-free-vram|least-utilized [default: by hive, index]" },
    { name: "hive", type: "string", value: "ID", multiple: true, help: "only GPUs of this hive" },
  ],
  async run({ flags }) {
    const request = create(FindDevicesRequestSchema, {
      minFreeVramBytes: sizeFlag("min-free-vram", flags["min-free-vram"] as string | undefined) ?? 0n,
      maxUtilizationPct: numberFlag("max-util", flags["max-util"] as string | undefined, 0, 100),
      hiveLabels: parseKeyValues("label", flags.label as string[]),
      includeDegraded: flags["include-degraded"] === true,
      limit: intFlag("limit", flags.limit as string | undefined, 0, 1000),
      order: choiceFlag("order", flags.order as string | undefined, ORDERS),
      hiveIds: flags.hive as string[],
    });
    const { client, url, timeoutMs } = connect(QueenService, flags);
    const res = await client.findDevices(request, { timeoutMs }).catch((err) => {
      throw rpcFailure(err, "queen", url);
    });
    if (flags.json) {
      process.stdout.write(toJsonString(FindDevicesResponseSchema, res, { prettySpaces: 2 }) + "\n");
      return 0;
    }
    const rows = res.matches.map((m) => {
      const d = m.device!;
      return [
        m.hiveId, String(d.index), d.name, pct(d.utilizationPct),
        `${bytes(d.memoryUsedBytes)} / ${bytes(d.memoryTotalBytes)}`, bytes(m.freeVramBytes),
        d.temperatureC === undefined ? DASH : `${d.temperatureC}C`,
        d.powerDrawW === undefined ? DASH : `${Math.round(d.powerDrawW)}W`,
        m.workerIds.join(",") || DASH, health(m.health),
      ];
    });
    process.stdout.write(renderTable(
      ["HIVE", ">GPU", "NAME", ">UTIL", ">MEMORY", ">FREE", ">TEMP", ">POWER", "WORKERS", "HEALTH"],
      rows,
    ));
    process.stdout.write(`${res.matches.length} of ${res.totalMatches} matching GPUs, revision ${res.revision}\n`);
    return 0;
  },
};
