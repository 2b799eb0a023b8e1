import { create, toJson, toJsonString } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import {
  QueenService, WatchRequestSchema, WatchResponseSchema, WatchKind, EventType, type WatchResponse,
} from "../../../gen/apiary/v1/queen_pb.js";
import { defineCommand } from "../command.js";
import { queenFlags } from "../common-flags.js";
import { outputFlag, jsonFlag, outputFormat, type OutputFormat } from "../output/output-format.js";
import { JSON_OPTIONS } from "../output/print-list.js";
import { loadYaml } from "../../common/load-yaml.js";
import { rpcFailure } from "../rpc-client.js";
import { intFlag, choiceFlag, durationFlag } from "../parse-values.js";
import { connect } from "../rpc-client.js";
import { resumingWatch } from "../../client/resuming-watch.js";
import { bytes, pct, health, workerState, labels } from "../format.js";

const KINDS = { hive: WatchKind.HIVE, worker: WatchKind.WORKER };

export const watchCommand = defineCommand({
  name: "watch",
  usage: "apiary watch [--since REV --epoch E] [--model M] [--hive ID]… [--kind hive|worker] [-o wide|json|yaml|name]",
  description:
    "-o json prints one WatchResponse per line (every field); -o yaml one document per response.\n" +
    "With several queens (--queen a,b,c) it resumes on the next when its queen dies; objects removed\n" +
    "meanwhile are printed as REMOVED once that queen's snapshot shows them gone.",
  flags: [
    ...queenFlags, outputFlag, jsonFlag,
    { name: "since", type: "string", value: "REV", help: "resume after this revision (needs --epoch); 0 = snapshot first" },
    { name: "epoch", type: "string", value: "E", help: "the queen epoch --since belongs to" },
    { name: "model", type: "string", value: "M", help: "only workers serving this model" },
    { name: "hive", type: "string", value: "ID", multiple: true, help: "only this hive" },
    { name: "kind", type: "string", value: "K", help: "only hive or worker events" },
    { name: "bookmarks", type: "boolean", help: "also print bookmarks" },
    { name: "min-update-interval", type: "string", value: "DUR", help: "at most one update per object this often (e.g. 5s)" },
  ],
  async run({ flags }) {
    const format = outputFormat(flags);
    const kind = choiceFlag("kind", flags.kind, KINDS);
    const minUpdate = durationFlag("min-update-interval", flags["min-update-interval"]);
    const request = create(WatchRequestSchema, {
      sinceRevision: BigInt(intFlag("since", flags.since) ?? 0),
      epoch: (flags.epoch) ?? "",
      model: (flags.model) ?? "",
      hiveIds: flags.hive,
      kinds: kind === undefined ? [] : [kind],
      minUpdateInterval: minUpdate === undefined ? undefined : durationFromMs(minUpdate),
    });
    const { clients } = await connect(QueenService, flags);
    const toYaml = format === "yaml" ? (await loadYaml()).stringify : undefined;
    const abort = new AbortController();
    process.once("SIGINT", () => abort.abort());
    process.once("SIGTERM", () => abort.abort());
    let url = clients[0].url;
    const stream = resumingWatch(clients.map((c) => c.client), request, {
      signal: abort.signal,
      onRetry: (err, failures, next) => {
        // Not a queen (a hive's port, say): retrying cannot help.
        if (err?.code === Code.Unimplemented) throw rpcFailure(err, "queen", url);
        const nextUrl = clients[next].url;
        if (failures === 1 || failures % 10 === 0) {
          const then = nextUrl === url ? "reconnecting" : `resuming on ${nextUrl}`;
          process.stderr.write(`apiary watch: lost the queen at ${url} (${err?.rawMessage ?? "stream ended"}); ${then}\n`);
        }
        url = nextUrl;
      },
    });
    for await (const res of stream) {
      const text = formatEvent(res, format, flags.bookmarks === true, toYaml);
      if (text !== undefined) process.stdout.write(text);
    }
    return 0;
  },
});

/** One response in the format asked for; undefined for what that format leaves out. */
export function formatEvent(res: WatchResponse, format: OutputFormat, bookmarks: boolean, toYaml?: (value: unknown) => string): string | undefined {
  switch (format) {
    case "json":
      return toJsonString(WatchResponseSchema, res, JSON_OPTIONS) + "\n";
    case "yaml":
      if (!toYaml) throw new Error("formatEvent: -o yaml needs the YAML writer (loadYaml)");
      return "---\n" + toYaml(toJson(WatchResponseSchema, res, JSON_OPTIONS));
    case "name":
      return eventObjectName(res);
    default: {
      const line = describe(res, bookmarks, format === "wide");
      return line === undefined ? undefined : line + "\n";
    }
  }
}

function eventObjectName(res: WatchResponse): string | undefined {
  if (res.kind.case === "hive") return `${eventName(res.kind.value.type).trim()} hive/${res.kind.value.hive?.info?.hiveId ?? ""}\n`;
  if (res.kind.case === "worker") {
    return `${eventName(res.kind.value.type).trim()} worker/${res.kind.value.hiveId}/${res.kind.value.worker?.workerId ?? ""}\n`;
  }
  return undefined;
}

/** One human line per event; wide adds labels, GPU UUIDs and endpoints. */
export function describe(res: WatchResponse, bookmarks: boolean, wide = false): string | undefined {
  const rev = `${String(res.revision).padStart(8)}`;
  switch (res.kind.case) {
    case "hive": {
      const h = res.kind.value.hive!;
      const extra = wide ? ` endpoint=${h.info?.endpoint || "-"} labels=${labels(h.info?.labels ?? {})}` : "";
      return `${rev}  hive    ${eventName(res.kind.value.type)}  ${h.info?.hiveId}  health=${health(h.health)} gpus=${h.devices.length}${extra}`;
    }
    case "worker": {
      const e = res.kind.value;
      const w = e.worker!;
      const exit = (w.exitSignal ? ` signal=${w.exitSignal}` : w.exitCode !== undefined ? ` exit=${w.exitCode}` : "") + (w.reason ? ` reason=${w.reason}` : "");
      return `${rev}  worker  ${eventName(e.type)}  ${e.hiveId}/${w.workerId}  model=${w.model || "-"} state=${workerState(w.state)}${exit} cpu=${pct(w.cpuPct)} mem=${bytes(w.memoryRssBytes)} gpu=${pct(w.gpuUtilizationPct)} vram=${bytes(w.vramUsedBytes)}${wide ? ` labels=${labels(w.labels)} gpus=${w.gpuUuids.join(",") || "-"}` : ""}`;
    }
    case "snapshotEnd":
      return `${rev}  snapshot complete (epoch ${res.epoch})`;
    case "bookmark":
      return bookmarks ? `${rev}  bookmark` : undefined;
    default:
      return undefined;
  }
}

function eventName(t: EventType): string {
  return (EventType[t] ?? String(t)).padEnd(7);
}
