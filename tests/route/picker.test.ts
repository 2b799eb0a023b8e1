import { describe, expect, it } from "vitest";
import { InFlight } from "../../src/route/in-flight.js";
import { Picker, type PickerOptions } from "../../src/route/picker.js";
import { promptPrefix } from "../../src/route/request-body.js";
import type { RouteCandidate } from "../../src/route/route-candidate.js";

const worker = (key: string, load: RouteCandidate["load"], reportMark = "r1"): RouteCandidate => ({ key, model: "m", baseUrl: "http://127.0.0.1:1", load, reportMark });

function picker(opts: Partial<PickerOptions> = {}) {
  const inFlight = new InFlight();
  return { inFlight, picker: new Picker({ policy: "least-loaded", prefixAffinity: false, prefixMaxWaiting: 0, prefixMaxImbalance: 2, ejectMs: 1000, ...opts }, inFlight) };
}

describe("Picker", () => {
  it("orders by waiting, then running, then KV cache, unknown last", () => {
    const { picker: p } = picker();
    const pick = (...ws: RouteCandidate[]) => p.pick(ws).worker?.key;
    expect(pick(worker("a", { waiting: 1, running: 0 }), worker("b", { waiting: 0, running: 9 }))).toBe("b");
    expect(pick(worker("a", { waiting: 0, running: 3 }), worker("b", { waiting: 0, running: 2 }))).toBe("b");
    expect(pick(worker("a", { waiting: 0, running: 2, kvCacheUsageRatio: 0.5 }), worker("b", { waiting: 0, running: 2, kvCacheUsageRatio: 0.4 }))).toBe("b");
    expect(pick(worker("a", {}), worker("b", { waiting: 7, running: 7 }))).toBe("b");
  });

  it("counts the requests it sent since a worker's reading as waiting, until the next reading", () => {
    const { picker: p, inFlight } = picker();
    let a = worker("a", { waiting: 0, running: 2 });
    const b = worker("b", { waiting: 0, running: 4 });
    const c = worker("c", { waiting: 3, running: 1 });
    const sent: string[] = [];
    const tickets = [];
    for (let i = 0; i < 6; i++) {
      const w = p.pick([a, b, c]).worker!;
      sent.push(w.key);
      tickets.push(inFlight.start(w));
    }
    // a (idle, 2 running) first; then the burst spreads by queue, not all on the worker that looked idle.
    expect(sent).toEqual(["a", "b", "a", "b", "a", "b"]);
    expect(p.estimate(a)).toMatchObject({ waiting: 3, running: 2 });
    // A new reading of a includes what was sent: the count starts again.
    a = worker("a", { waiting: 0, running: 2 }, "r2");
    expect(p.estimate(a).waiting).toBe(0);
    // A request that ends after the new reading does not lower the count of the next one.
    tickets[0].end();
    inFlight.start(a);
    expect(p.estimate(a).waiting).toBe(1);
  });

  it("sheds when every worker is over maxWaiting, and passes over an ejected worker while another can take it", () => {
    let now = 0;
    const { picker: p } = picker({ maxWaiting: 2, now: () => now });
    expect(p.pick([worker("a", { waiting: 3 }), worker("b", { waiting: 4 })])).toEqual({ worker: undefined, overloaded: true });
    const a = worker("a", { waiting: 0, running: 0 });
    const b = worker("b", { waiting: 0, running: 5 });
    p.eject("a");
    expect(p.pick([a, b]).worker?.key).toBe("b");
    expect(p.pick([a]).worker?.key).toBe("a");
    now = 1001;
    expect(p.pick([a, b]).worker?.key).toBe("a");
  });

  it("prefix affinity: one prefix, one worker; another worker once it queues over the limit; rendezvous keeps others in place", () => {
    const { picker: p } = picker({ prefixAffinity: true, prefixMaxWaiting: 0 });
    const ws = ["a", "b", "c", "d"].map((k) => worker(k, { waiting: 0, running: 0 }));
    const home = p.pick(ws, { prefix: "system: be brief" });
    expect(home).toMatchObject({ reason: "prefix" });
    for (let i = 0; i < 5; i++) expect(p.pick(ws, { prefix: "system: be brief" }).worker).toBe(home.worker);
    const busy = ws.map((w) => (w === home.worker ? worker(w.key, { waiting: 1, running: 8 }) : w));
    const next = p.pick(busy, { prefix: "system: be brief" }).worker!;
    expect(next.key).not.toBe(home.worker!.key);
    // Or once it runs more than prefixMaxImbalance (2) beyond the least busy worker.
    const running = ws.map((w) => (w === home.worker ? worker(w.key, { waiting: 0, running: 3 }) : w));
    expect(p.pick(running, { prefix: "system: be brief" }).worker!.key).not.toBe(home.worker!.key);
    const slightly = ws.map((w) => (w === home.worker ? worker(w.key, { waiting: 0, running: 2 }) : w));
    expect(p.pick(slightly, { prefix: "system: be brief" }).worker!.key).toBe(home.worker!.key);
    // Prefixes homed elsewhere do not move when one worker leaves.
    const prefixes = Array.from({ length: 50 }, (_, i) => `prefix ${i}`);
    const before = prefixes.map((x) => p.pick(ws, { prefix: x }).worker!.key);
    const without = ws.filter((w) => w.key !== "d");
    const after = prefixes.map((x) => p.pick(without, { prefix: x }).worker!.key);
    prefixes.forEach((_, i) => {
      if (before[i] !== "d") expect(after[i]).toBe(before[i]);
    });
  });
});

describe("promptPrefix", () => {
  it("reads chat messages, completion prompts and embedding inputs, cut to the length asked", () => {
    expect(promptPrefix({ messages: [{ role: "system", content: "Be brief." }, { role: "user", content: [{ type: "text", text: "Hi" }] }] }, 100)).toBe("system:Be brief.\nuser:Hi\n");
    expect(promptPrefix({ prompt: "abcdef" }, 3)).toBe("abc");
    expect(promptPrefix({ prompt: ["xyz", "q"] }, 10)).toBe("xyzq");
    expect(promptPrefix({ input: "hello" }, 10)).toBe("hello");
    expect(promptPrefix({ prompt: 42 }, 10)).toBe("");
  });
});
