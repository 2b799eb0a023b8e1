import { create, toJsonString } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import {
  QueenService, WatchRequestSchema, WatchResponseSchema, WatchKind, EventType, type WatchResponse,
} from "../../../gen/apiary/v1/queen_pb.js";
import type { Command } from "../command.js";
import { queenFlags, jsonFlag } from "../common-flags.js";
import { intFlag, choiceFlag, durationFlag } from "../parse-values.js";
import { connect } from "../rpc-client.js";
import { resumingWatch } from "../resuming-watch.js";
import { bytes, pct, health, workerState } from "../format.js";

const KINDS = { hive: WatchKind.HIVE, worker: WatchKind.WORKER };

export const watchCommand: Command = {
  name: "watch",
  summary: "stream every change of the cluster (Watch), resuming across queen restarts",
  usage: "apiary watch [--since REV --epoch E] [--model M] [--hive ID]… [--kind hive|worker] [--json]",
  flags: [
    ...queenFlags,
    { ...jsonFlag, help: "print one proto-JSON WatchResponse per line" },
    { name: "since", type: "string", value: "REV", help: "resume after this revision (needs --epoch); 0 = snapshot first" },
    { name: "epoch", type: "string", value: "E", help: "the queen epoch --since belongs to" },
    { name: "model", type: "string", value: "M", help: "only workers serving this model" },
    { name: "hive", type: "string", value: "ID", multiple: true, help: "only this hive" },
    { name: "kind", type: "string", value: "K", help: "only hive or worker events" },
    { name: "bookmarks", type: "boolean", help: "also print bookmarks" },
    { name: "min-update-interval", type: "string", value: "DUR", help: "at most one update per object this often (e.g. 5s)" },
  ],
  async run({ flags }) {
    const kind = choiceFlag("kind", flags.kind as string | undefined, KINDS);
    const minUpdate = durationFlag("min-update-interval", flags["min-update-interval"] as string | undefined);
    const request = create(WatchRequestSchema, {
      sinceRevision: BigInt(intFlag("since", flags.since as string | undefined) ?? 0),
      epoch: (flags.epoch as string | undefined) ?? "",
      model: (flags.model as string | undefined) ?? "",
      hiveIds: flags.hive as string[],
      kinds: kind === undefined ? [] : [kind],
      minUpdateInterval: minUpdate === undefined ? undefined : durationFromMs(minUpdate),
    });
    const { client, url } = connect(QueenService, flags);
    const abort = new AbortController();
    process.once("SIGINT", () => abort.abort());
    process.once("SIGTERM", () => abort.abort());
    const stream = resumingWatch(client, request, {
      signal: abort.signal,
      onRetry: (err, failures) => {
        if (failures === 1 || failures % 10 === 0) {
          process.stderr.write(`apiary watch: lost the queen at ${url} (${err?.rawMessage ?? "stream ended"}); reconnecting\n`);
        }
      },
    });
    for await (const res of stream) {
      if (flags.json) {
        process.stdout.write(toJsonString(WatchResponseSchema, res) + "\n");
      } else {
        const line = describe(res, flags.bookmarks === true);
        if (line) process.stdout.write(line + "\n");
      }
    }
    return 0;
  },
};

/** One human line per event. */
export function describe(res: WatchResponse, bookmarks: boolean): string | undefined {
  const rev = `${String(res.revision).padStart(8)}`;
  switch (res.kind.case) {
    case "hive": {
      const h = res.kind.value.hive!;
      return `${rev}  hive    ${eventName(res.kind.value.type)}  ${h.info?.hiveId}  health=${health(h.health)} gpus=${h.devices.length}`;
    }
    case "worker": {
      const e = res.kind.value;
      const w = e.worker!;
      const exit = (w.exitSignal ? ` signal=${w.exitSignal}` : w.exitCode !== undefined ? ` exit=${w.exitCode}` : "") + (w.reason ? ` reason=${w.reason}` : "");
      return `${rev}  worker  ${eventName(e.type)}  ${e.hiveId}/${w.workerId}  model=${w.model || "-"} state=${workerState(w.state)}${exit} cpu=${pct(w.cpuPct)} mem=${bytes(w.memoryRssBytes)} gpu=${pct(w.gpuUtilizationPct)} vram=${bytes(w.vramUsedBytes)}`;
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
