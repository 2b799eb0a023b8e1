import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fromJsonString } from "@bufbuild/protobuf";
import { afterAll, describe, expect, it } from "vitest";
import { FindWorkersResponseSchema } from "../../../gen/apiary/v1/queen_pb.js";
import { EngineKind } from "../../../gen/apiary/v1/telemetry_pb.js";
import { ApiaryProcess, runApiary } from "../../e2e/helpers/apiary-process.js";
import { waitFor } from "../../helpers/wait.js";

describe("apiary up with engine-mode demo workers", () => {
  const stateDir = mkdtempSync(path.join(os.tmpdir(), "apiary-up-engine-"));
  afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

  it("shows each demo worker's engine load in `apiary workers` (RUN, WAIT, KV, TOK/S) and orders by it", async () => {
    const up = ApiaryProcess.start([
      "up", "--port", "0", "--hive-port", "0", "--fake-gpus", "1", "--demo-workers", "2", "--state-dir", stateDir,
      "--report-interval", "250ms", "--tick-interval", "250ms", "--cgroup-parent", `apiary-test/engine-up-${process.pid}`,
    ]);
    try {
      const queenUrl = await up.listeningUrl("queen");
      await up.waitFor(/ready\. try:/);
      const res = await waitFor(async () => {
        const out = await runApiary(["workers", "--json", "--order", "least-loaded", "--queen", queenUrl]);
        const parsed = fromJsonString(FindWorkersResponseSchema, out.stdout);
        return parsed.matches.length === 2 && parsed.matches.every((m) => m.worker?.engineLoad?.generationTokensPerSec !== undefined) && parsed;
      }, "two demo workers with engine load and token rates", 30_000);
      for (const m of res.matches) {
        expect(m.worker!.engineLoad).toMatchObject({ kind: EngineKind.VLLM, model: m.worker!.model, stale: false });
        expect(m.worker!.engineLoad!.requestsRunning).toBeGreaterThanOrEqual(1);
      }
      const [first, second] = res.matches.map((m) => m.worker!.engineLoad!);
      // LEAST_LOADED: fewer waiting first, then fewer running.
      const lighter = first.requestsWaiting! < second.requestsWaiting! || (first.requestsWaiting === second.requestsWaiting && first.requestsRunning! <= second.requestsRunning!);
      expect(lighter, JSON.stringify([first, second].map((l) => [l.requestsWaiting, l.requestsRunning]))).toBe(true);

      const table = await runApiary(["workers", "--queen", queenUrl]);
      expect(table.code).toBe(0);
      const [header, ...rows] = table.stdout.split("\n");
      expect(header).toMatch(/\bRUN\s+WAIT\s+KV\s+TOK\/S\b/);
      for (const id of ["demo-1", "demo-2"]) expect(rows.find((r) => r.includes(id))).toMatch(/\s\d+\s+\d+\s+\d+%\s+\d+(\.\d)?\s/);
    } finally {
      // Ctrl-C alone: a second signal would make up exit at once, leaving its demo workers running.
      up.signal("SIGINT");
      const kill = setTimeout(() => up.signal("SIGKILL"), 20_000);
      await up.exited;
      clearTimeout(kill);
    }
  });
});
