import { create } from "@bufbuild/protobuf";
import { QueenService, WatchRequestSchema } from "../../../gen/apiary/v1/queen_pb.js";
import type { Command } from "../command.js";
import { queenFlags } from "../common-flags.js";
import { connect } from "../rpc-client.js";
import { resumingWatch } from "../resuming-watch.js";
import { ClusterState } from "../cluster-state.js";
import { renderTop } from "../top-view.js";
import { durationFlag } from "../parse-values.js";

const CLEAR = "\x1b[H\x1b[2J";

export const topCommand: Command = {
  name: "top",
  summary: "live view of hives, GPUs and workers, fed by Watch",
  usage: "apiary top [--queen ADDR] [--refresh 1s] [--once]",
  description: "Redraws in place; resumes by revision when the queen restarts. Ctrl-C quits.",
  flags: [
    ...queenFlags,
    { name: "refresh", type: "string", value: "DUR", default: "1s", help: "redraw at most this often" },
    { name: "once", type: "boolean", help: "print one frame once the snapshot is in, then exit (for scripts)" },
  ],
  async run({ flags }) {
    const refreshMs = durationFlag("refresh", flags.refresh as string)!;
    const { client, url } = connect(QueenService, flags);
    const state = new ClusterState();
    const abort = new AbortController();
    const quit = () => abort.abort();
    process.once("SIGINT", quit);
    process.once("SIGTERM", quit);
    let status = `connecting to ${url}`;
    let dirty = true;
    const draw = () => {
      if (!dirty) return;
      dirty = false;
      process.stdout.write(CLEAR + renderTop(state, status));
    };
    // Redraw on a timer too, so "last seen" ages while nothing changes.
    const timer = flags.once ? undefined : setInterval(() => { dirty = true; draw(); }, refreshMs);
    try {
      const stream = resumingWatch(client, create(WatchRequestSchema, {}), {
        signal: abort.signal,
        onRetry: (err) => {
          status = `lost the queen at ${url} (${err?.rawMessage ?? "stream ended"}); reconnecting`;
          dirty = true;
          if (!flags.once) draw();
        },
      });
      for await (const res of stream) {
        const changed = state.apply(res);
        if (state.synced) status = `live from ${url}`;
        if (flags.once && res.kind.case === "snapshotEnd") {
          process.stdout.write(renderTop(state, status));
          return 0;
        }
        if (changed && !flags.once) dirty = true;
      }
    } finally {
      if (timer) clearInterval(timer);
    }
    return 0;
  },
};
