// The router's HTTP behaviour against real HTTP workers (in-process servers and demo worker
// processes), with the workers given by a fixed source: streaming, cancellation, failures, refusals.
import { once } from "node:events";
import { afterEach, describe, expect, it } from "vitest";
import { candidate, demoWorkerProcess, open, post, routerOver, scriptedWorker, StaticSource } from "./route-fixtures.js";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(...workers: [string, string, object?][]) {
  const source = new StaticSource();
  source.workers = workers.map(([key, url, load]) => candidate(key, url, load as never));
  const router = await routerOver(source);
  cleanups.push(() => router.close());
  return { source, router };
}

describe("apiary route: streaming", () => {
  it("passes server-sent events through byte for byte, each chunk before the worker writes the next", async () => {
    const events = [`data: {"a":"é\\u00e9"}\n\n`, "data: {\"b\":2}\r\n\r\n", ": comment\n\n", "data: [DONE]\n\n"];
    let next!: () => void;
    const worker = await scriptedWorker(async (req, res) => {
      req.resume();
      res.writeHead(200, { "content-type": "text/event-stream", "x-engine": "scripted" }).flushHeaders();
      for (const e of events) {
        // The next event is written only once the client has received the previous one.
        await new Promise<void>((resolve) => (next = resolve));
        res.write(Buffer.from(e));
      }
      res.end();
    });
    cleanups.push(() => worker.close());
    const { router } = await setup(["h/w1", worker.url]);

    const { res } = await open(`${router.url}/v1/chat/completions`, { model: "m", stream: true });
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toBe("text/event-stream");
    expect(res.headers["x-engine"]).toBe("scripted");
    expect(res.headers["x-apiary-worker"]).toBe("h/w1");
    const chunks = res[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    const received: Buffer[] = [];
    let pending = Buffer.alloc(0);
    for (const e of events) {
      next();
      const want = Buffer.from(e);
      while (pending.length < want.length) {
        const { value, done } = await chunks.next();
        if (done) throw new Error("the stream ended early");
        pending = Buffer.concat([pending, value]);
      }
      expect(pending.subarray(0, want.length).equals(want)).toBe(true);
      received.push(pending.subarray(0, want.length));
      pending = pending.subarray(want.length);
    }
    expect((await chunks.next()).done).toBe(true);
    expect(Buffer.concat(received).equals(Buffer.from(events.join("")))).toBe(true);
  });

  it("honours backpressure: a client that stops reading stops the worker's writes, and then gets every byte", async () => {
    const chunk = Buffer.alloc(64 * 1024, 120);
    const cap = 256 * 1024 * 1024;
    let written = 0;
    let blocked!: (n: number) => void;
    const blockedAt = new Promise<number>((resolve) => (blocked = resolve));
    const worker = await scriptedWorker((req, res) => {
      req.resume();
      res.writeHead(200, { "content-type": "text/event-stream" });
      const pump = () => {
        while (written < cap) {
          written += chunk.length;
          if (!res.write(chunk)) return blocked(written);
        }
        blocked(written);
      };
      pump();
      res.once("drain", () => {
        // The client reads again: finish with a known total.
        res.end();
      });
    });
    cleanups.push(() => worker.close());
    const { router } = await setup(["h/w1", worker.url]);

    const { res } = await open(`${router.url}/v1/completions`, { model: "m", stream: true });
    res.pause();
    const atBlock = await blockedAt;
    expect(atBlock).toBeLessThan(cap);
    let got = 0;
    res.on("data", (c: Buffer) => (got += c.length));
    res.resume();
    await once(res, "end");
    expect(got).toBe(written);
  });

  it("a client that disconnects mid-stream cancels the worker's request", async () => {
    let upstreamClosed!: () => void;
    const closed = new Promise<void>((resolve) => (upstreamClosed = resolve));
    const worker = await scriptedWorker((req, res) => {
      req.resume();
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write("data: first\n\n");
      res.on("close", () => upstreamClosed());
    });
    cleanups.push(() => worker.close());
    const { router } = await setup(["h/w1", worker.url]);

    const { req, res } = await open(`${router.url}/v1/chat/completions`, { model: "m", stream: true });
    await once(res, "data");
    req.destroy();
    await closed;
    // And the router no longer counts it as open on the worker.
    await expect.poll(() => router.inFlight.open("h/w1")).toBe(0);
  });

  it("a client that disconnects while the worker is still queueing it cancels the worker's request", async () => {
    let upstreamClosed!: () => void;
    let arrived!: () => void;
    const closed = new Promise<void>((resolve) => (upstreamClosed = resolve));
    const arrivedAtWorker = new Promise<void>((resolve) => (arrived = resolve));
    const worker = await scriptedWorker((req, res) => {
      req.resume();
      res.on("close", () => upstreamClosed());
      arrived(); // never answers: a request waiting in the engine's queue
    });
    cleanups.push(() => worker.close());
    const { router } = await setup(["h/w1", worker.url]);
    const req = (await import("node:http")).request(`${router.url}/v1/completions`, { method: "POST" });
    req.on("error", () => {});
    req.end(JSON.stringify({ model: "m" }));
    await arrivedAtWorker;
    req.destroy();
    await closed;
  });

  it("a worker killed mid-stream: the client's response breaks, and the next request goes to another worker", async () => {
    const a = await demoWorkerProcess("m", "0,0", 20);
    const b = await demoWorkerProcess("m", "0,0", 1);
    cleanups.push(() => a.child.kill("SIGKILL"), () => b.child.kill("SIGKILL"));
    // a is the lighter one: the first request goes there.
    const { router } = await setup(["h/a", a.url, { waiting: 0, running: 0 }], ["h/b", b.url, { waiting: 0, running: 5 }]);

    const { res } = await open(`${router.url}/v1/chat/completions`, { model: "m", stream: true, max_tokens: 100000 });
    expect(res.headers["x-apiary-worker"]).toBe("h/a");
    await once(res, "data");
    const broken = new Promise<string>((resolve) => {
      res.on("error", (err) => resolve(`error: ${err.message}`));
      res.on("aborted", () => resolve("aborted"));
      res.on("end", () => resolve("ended"));
    });
    res.resume();
    a.child.kill("SIGKILL");
    expect(await broken).not.toBe("ended");

    const after = await post(`${router.url}/v1/completions`, { model: "m", max_tokens: 2 });
    expect(after.status).toBe(200);
    expect(after.headers["x-apiary-worker"]).toBe("h/b");
    expect(JSON.parse(after.body.toString()).choices[0].text).toBe("the hive");
  });
});

describe("apiary route: retries and refusals", () => {
  it("retries a refused connection once on another worker, before any byte went to the client", async () => {
    const dead = await scriptedWorker(() => {});
    const deadUrl = dead.url;
    await dead.close();
    const live = await demoWorkerProcess("m", "0,0", 1);
    cleanups.push(() => live.child.kill("SIGKILL"));
    const { router } = await setup(["h/dead", deadUrl, { waiting: 0, running: 0 }], ["h/live", live.url, { waiting: 0, running: 3 }]);

    const res = await post(`${router.url}/v1/embeddings`, { model: "m", input: "hello" });
    expect(res.status).toBe(200);
    expect(res.headers["x-apiary-worker"]).toBe("h/live");
    expect(JSON.parse(res.body.toString()).data[0].embedding).toHaveLength(8);
    const metrics = await (await fetch(`${router.url}/metrics`)).text();
    expect(metrics).toMatch(/^apiary_route_retries_total\{model="m"\} 1$/m);
    expect(metrics).toMatch(/^apiary_route_requests_total\{model="m",worker="h\/dead",code="0"\} 1$/m);
  });

  it("answers 502 naming the workers when the only ones refuse", async () => {
    const dead = await scriptedWorker(() => {});
    await dead.close();
    const { router } = await setup(["h/dead", dead.url]);
    const res = await post(`${router.url}/v1/completions`, { model: "m" });
    expect(res.status).toBe(502);
    expect(JSON.parse(res.body.toString()).error.message).toMatch(/h\/dead could not be reached/);
  });

  it("answers 404 for a model no worker serves, naming the field", async () => {
    const { router } = await setup(["h/w1", "http://127.0.0.1:9"]);
    const res = await post(`${router.url}/v1/chat/completions`, { model: "other", messages: [] });
    expect(res.status).toBe(404);
    expect(JSON.parse(res.body.toString()).error).toMatchObject({ param: "model", code: "model_not_found" });
  });

  it("answers 503 with Retry-After when every worker is over --max-waiting, and routes again once one is not", async () => {
    const live = await demoWorkerProcess("m", "0,0", 1);
    cleanups.push(() => live.child.kill("SIGKILL"));
    const source = new StaticSource();
    source.workers = [candidate("h/a", live.url, { waiting: 5, running: 8 }), candidate("h/b", live.url, { waiting: 3, running: 8 })];
    const router = await routerOver(source, { maxWaiting: 2 });
    cleanups.push(() => router.close());
    const res = await post(`${router.url}/v1/completions`, { model: "m" });
    expect(res.status).toBe(503);
    expect(res.headers["retry-after"]).toBe("1");
    expect(JSON.parse(res.body.toString()).error.code).toBe("overloaded");

    source.workers[1] = { ...source.workers[1], load: { waiting: 2, running: 8 }, reportMark: "2" };
    const ok = await post(`${router.url}/v1/completions`, { model: "m", max_tokens: 1 });
    expect(ok.status).toBe(200);
    expect(ok.headers["x-apiary-worker"]).toBe("h/b");
  });

  it("answers 400 naming the field for bad JSON, a missing model, a bad stream flag; 413 for a body over the limit", async () => {
    const source = new StaticSource();
    const router = await routerOver(source, { maxBodyBytes: 1024 });
    cleanups.push(() => router.close());
    const cases: [unknown, number, RegExp][] = [
      ["{not json", 400, /^request body: not valid JSON/],
      ["[1,2]", 400, /^request body: expected a JSON object/],
      [{ messages: [] }, 400, /^model: required/],
      [{ model: 7 }, 400, /^model: required/],
      [{ model: "m", stream: "yes" }, 400, /^stream: must be true or false/],
      [{ model: "m", prompt: "x".repeat(2000) }, 413, /^request body: .*over the limit of 1024/],
    ];
    for (const [body, status, message] of cases) {
      const res = await post(`${router.url}/v1/completions`, body);
      expect(res.status, JSON.stringify(body).slice(0, 40)).toBe(status);
      expect(JSON.parse(res.body.toString()).error.message).toMatch(message);
    }
    const get = await fetch(`${router.url}/v1/completions`);
    expect(get.status).toBe(405);
  });

  it("lists the models served in OpenAI's list format", async () => {
    const { source, router } = await setup(["h/w1", "http://127.0.0.1:9"]);
    source.workers.push(candidate("h/w2", "http://127.0.0.1:9", undefined, "llama"));
    const res = await fetch(`${router.url}/v1/models`);
    const body = (await res.json()) as { object: string; data: { id: string; object: string }[] };
    expect(body.object).toBe("list");
    expect(body.data.map((m) => [m.id, m.object])).toEqual([["llama", "model"], ["m", "model"]]);
  });
});
