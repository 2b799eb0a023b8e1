import { create } from "@bufbuild/protobuf";
import { QueenService, WatchRequestSchema } from "../../../gen/apiary/v1/queen_pb.js";
import { defineCommand } from "../command.js";
import { queenFlags } from "../common-flags.js";
import { connect } from "../rpc-client.js";
import { resumingWatch } from "../../client/resuming-watch.js";
import { ClusterState } from "../../client/cluster-state.js";
import { renderTop, type TopViewOptions } from "../top-view.js";
import { applyKeys, TOP_KEY_HELP, type TopInput } from "../top-keys.js";
import { durationFlag } from "../parse-values.js";

const CLEAR = "\x1b[H\x1b[2J";

export const topCommand = defineCommand({
  name: "top",
  usage: "apiary top [--queen ADDR] [--refresh 1s] [--once]",
  description:
    "Redraws in place; resumes by revision when the queen restarts. On a terminal: c/m/g/v sort workers by " +
    "CPU/MEM/GPU/VRAM (i by id), / filters by model (Enter applies, Esc clears), q quits. Elsewhere plain frames.",
  flags: [
    ...queenFlags,
    { name: "refresh", type: "string", value: "DUR", default: "1s", help: "redraw at most this often" },
    { name: "once", type: "boolean", help: "print one frame once the snapshot is in, then exit (for scripts)" },
  ],
  async run({ flags }) {
    const refreshMs = durationFlag("refresh", flags.refresh)!;
    const { clients } = await connect(QueenService, flags);
    let url = clients[0].url;
    const state = new ClusterState();
    const abort = new AbortController();
    const quit = () => abort.abort();
    process.once("SIGINT", quit);
    process.once("SIGTERM", quit);
    const interactive = !flags.once && process.stdout.isTTY === true && process.stdin.isTTY === true;
    const input: TopInput = { sort: "id", filter: "", quit: false };
    let unreachableSinceMs: number | undefined;
    let status = `connecting to ${url}`;
    let dirty = true;
    const view = (): TopViewOptions => {
      if (!interactive) return {};
      const hint = input.typing !== undefined ? `filter by model: ${input.typing}_` :
        `${TOP_KEY_HELP}   sort: ${input.sort}${input.filter ? `  model filter: ${input.filter}` : ""}`;
      return { sort: input.sort, modelFilter: input.filter, width: process.stdout.columns, color: true, unreachableSinceMs, hint };
    };
    const draw = () => {
      if (!dirty) return;
      dirty = false;
      process.stdout.write(CLEAR + renderTop(state, status, Date.now(), view()));
    };
    const redraw = () => { dirty = true; draw(); };
    const onKeys = (chunk: string) => {
      applyKeys(input, chunk);
      if (input.quit) abort.abort();
      else redraw();
    };
    if (interactive) {
      process.stdin.setRawMode(true);
      process.stdin.setEncoding("utf8").on("data", onKeys);
      process.stdout.on("resize", redraw);
    }
    // Redraw on a timer too, so "last seen" ages while nothing changes.
    const timer = flags.once ? undefined : setInterval(redraw, refreshMs);
    try {
      const stream = resumingWatch(clients.map((c) => c.client), create(WatchRequestSchema, {}), {
        signal: abort.signal,
        onRetry: (err, _failures, next) => {
          const nextUrl = clients[next].url;
          status = `lost the queen at ${url} (${err?.rawMessage ?? "stream ended"}); ${nextUrl === url ? "reconnecting" : `trying ${nextUrl}`}`;
          url = nextUrl;
          unreachableSinceMs ??= Date.now();
          dirty = true;
          if (!flags.once) draw();
        },
      });
      for await (const res of stream) {
        const changed = state.apply(res);
        if (state.synced) {
          status = `live from ${url}`;
          if (unreachableSinceMs !== undefined) {
            unreachableSinceMs = undefined;
            dirty = true;
          }
        }
        if (flags.once && res.kind.case === "snapshotEnd") {
          process.stdout.write(renderTop(state, status));
          return 0;
        }
        if (changed && !flags.once) dirty = true;
      }
    } finally {
      if (timer) clearInterval(timer);
      if (interactive) {
        process.stdin.off("data", onKeys);
        process.stdin.setRawMode(false);
        process.stdin.pause();
        process.stdout.off("resize", redraw);
        process.stdout.write("\n");
      }
      // Ends the Watch call: leaving the loop alone keeps its HTTP/2 stream, and the process, alive.
      abort.abort();
    }
    return 0;
  },
});
