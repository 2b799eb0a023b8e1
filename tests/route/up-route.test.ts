// `apiary up` starts a router beside queen, hive and demo workers; `apiary route` runs on its own.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { waitFor } from "../helpers/wait.js";
import { ApiaryProcess } from "../e2e/helpers/apiary-process.js";
import { post } from "./route-fixtures.js";

describe("apiary up and apiary route", () => {
  const stateDir = mkdtempSync(path.join(os.tmpdir(), "apiary-up-route-"));
  afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

  it("up serves the demo workers' models through its router, spread over the two workers of one model; route does the same on its own", async () => {
    const up = ApiaryProcess.start([
      "up", "--port", "0", "--hive-port", "0", "--fake-gpus", "1", "--demo-workers", "3", "--state-dir", stateDir,
      "--report-interval", "250ms", "--tick-interval", "250ms", "--cgroup-mode", "none",
    ]);
    let route: ApiaryProcess | undefined;
    try {
      const queenUrl = await up.listeningUrl("queen");
      const routerUrl = (await up.waitFor(/apiary route listening on (http:\/\/\S+) /))[1];
      await up.waitFor(/ready\. try:/);
      const models = await waitFor(async () => {
        const body = (await (await fetch(`${routerUrl}/v1/models`)).json()) as { data: { id: string; workers: number }[] };
        return body.data.length === 2 && body.data.every((m) => m.workers === (m.id.startsWith("llama") ? 2 : 1)) && body.data;
      }, "the three demo workers routable", 20_000);
      expect(models).toEqual([
        expect.objectContaining({ id: "llama-3.1-8b-instruct", workers: 2 }),
        expect.objectContaining({ id: "qwen2.5-7b-instruct", workers: 1 }),
      ]);
      const answer = await post(`${routerUrl}/v1/chat/completions`, { model: "qwen2.5-7b-instruct", max_tokens: 2, messages: [{ role: "user", content: "hi" }] });
      expect(answer.status).toBe(200);
      expect(answer.headers["x-apiary-worker"]).toMatch(/\/demo-2$/);
      expect(JSON.parse(answer.body.toString()).choices[0].message.content).toBe("the hive");
      // A burst between two reports spreads over the model's two workers.
      const burst = await Promise.all(Array.from({ length: 12 }, () => post(`${routerUrl}/v1/completions`, { model: "llama-3.1-8b-instruct", max_tokens: 20 })));
      expect(new Set(burst.map((r) => String(r.headers["x-apiary-worker"]).split("/")[1]))).toEqual(new Set(["demo-1", "demo-3"]));

      route = ApiaryProcess.start(["route", "--queen", queenUrl, "--listen", "127.0.0.1:0"]);
      const own = (await route.waitFor(/apiary route listening on (http:\/\/\S+) /))[1];
      const viaOwn = await waitFor(async () => {
        const r = await post(`${own}/v1/embeddings`, { model: "llama-3.1-8b-instruct", input: "hi" });
        return r.status === 200 && r;
      }, "the standalone router's first routed request", 20_000);
      expect(viaOwn.headers["x-apiary-worker"]).toMatch(/\/demo-[13]$/);
    } finally {
      await route?.stop(5000);
      // SIGINT alone: a second signal would cut the shutdown that stops the demo workers.
      up.signal("SIGINT");
      const stopped = await Promise.race([up.exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 30_000).unref())]);
      if (!stopped) await up.stop(1000);
    }
  });
});
