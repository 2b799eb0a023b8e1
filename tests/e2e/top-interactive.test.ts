import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cluster } from "./helpers/cluster.js";
import { APIARY_BIN } from "./helpers/apiary-process.js";
import { pause } from "../../src/common/wait.js";
import { waitUntil } from "../helpers/wait.js";

const SOCKET = `apiary-top-${process.pid}`;
const tmux = (...args: string[]) => execFileSync("tmux", ["-L", SOCKET, ...args], { encoding: "utf8" });
const screen = () => tmux("capture-pane", "-p", "-t", "top");

/** Polls the pane until pred holds (bounded); returns the screen that satisfied it. */
async function screenWhere(pred: (s: string) => boolean, what: string, timeoutMs = 20_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = screen();
    if (pred(s)) return s;
    if (Date.now() > deadline) throw new Error(`screen never showed ${what}:\n${s}`);
    await pause(100);
  }
}

const workerOrder = (s: string, ids: string[]) =>
  ids.map((id) => ({ id, at: s.indexOf(` ${id} `) })).filter((x) => x.at >= 0).sort((a, b) => a.at - b.at).map((x) => x.id);

describe("apiary top on a terminal (tmux)", () => {
  const cluster = new Cluster();
  const tag = Math.random().toString(16).slice(2, 6);
  const big = `top-z-big-${tag}`;
  const small = `top-a-small-${tag}`;

  beforeAll(async () => {
    await cluster.startQueen();
    await cluster.startHive();
    await cluster.spawnDemo(big, "llama-big", ["--memory", "96MiB"]);
    await cluster.spawnDemo(small, "mistral-small", ["--memory", "8MiB"]);
    tmux("new-session", "-d", "-s", "top", "-x", "120", "-y", "30",
      `${process.execPath} ${APIARY_BIN} top --queen ${cluster.queenUrl} --refresh 250ms; echo TOP-EXITED $?; sleep 60`);
  }, 60_000);

  afterAll(async () => {
    try { tmux("kill-server"); } catch { /* already gone */ }
    await cluster.cleanup();
  }, 30_000);

  it("sorts, filters, fits the width, reports an unreachable queen and quits on q", async () => {
    await screenWhere((s) => s.includes(big) && s.includes(small) && /MEM/.test(s) && s.includes("live from"), "both workers");
    // By id the small worker comes first; sorted by memory the 96 MiB one must lead,
    // once both have reported memory.
    expect(workerOrder(screen(), [big, small])).toEqual([small, big]);
    if (process.env.APIARY_TOP_FRAME) execFileSync("sh", ["-c", `cat > ${process.env.APIARY_TOP_FRAME}`], { input: screen() });
    // The 96 MiB demo fills its memory after it starts: sort once the queen has it above the other.
    await waitUntil(async () => {
      const { matches } = await cluster.queenClient.findWorkers({});
      const rss = (id: string) => matches.find((m) => m.worker?.workerId === id)?.worker?.memoryRssBytes ?? 0n;
      return rss(big) > rss(small);
    }, "the big worker's memory reported above the small one's");
    tmux("send-keys", "-t", "top", "m");
    const byMem = await screenWhere((s) => s.includes("sort: mem") && workerOrder(s, [big, small]).length === 2, "sort by mem");
    expect(workerOrder(byMem, [big, small])).toEqual([big, small]);
    tmux("send-keys", "-t", "top", "v");
    await screenWhere((s) => s.includes("sort: vram"), "sort by vram");

    tmux("send-keys", "-t", "top", "/", "mistral", "Enter");
    const filtered = await screenWhere((s) => s.includes("model filter: mistral"), "the filter applied");
    expect(filtered).toContain(small);
    expect(filtered).not.toContain(big);
    expect(filtered).toMatch(/1 of 2 workers/);
    tmux("send-keys", "-t", "top", "Escape");
    await screenWhere((s) => s.includes(big) && s.includes(small), "the filter cleared");

    const widest = (s: string) => Math.max(...s.split("\n").map((l) => l.trimEnd().length));
    expect(widest(screen())).toBeGreaterThan(60);
    tmux("resize-window", "-t", "top", "-x", "60", "-y", "30");
    const narrow = await screenWhere((s) => widest(s) <= 60 && s.includes("HIVES"), "a 60-column frame");
    expect(narrow.split("\n").some((l) => l.trimEnd().length === 60)).toBe(true);
    tmux("resize-window", "-t", "top", "-x", "120", "-y", "30");
    await screenWhere((s) => widest(s) > 60, "a wide frame again");

    await cluster.queen.stop(5000);
    const down = await screenWhere((s) => s.includes("queen unreachable since"), "the unreachable banner");
    expect(down).not.toContain(big);

    tmux("send-keys", "-t", "top", "q");
    await screenWhere((s) => s.includes("TOP-EXITED 0"), "the process exiting");
  }, 90_000);
});
