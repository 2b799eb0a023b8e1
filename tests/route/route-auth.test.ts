// The router's listener authenticates as the queen's does: bearer tokens (hashed file), client
// certificates over TLS; the client's credential is not passed on to the worker.
import { writeFileSync } from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { newToken, tokenFileLine } from "../../src/rpc/auth/token-store.js";
import { tempDir } from "../hive/hive-test-helpers.js";
import { candidate, post, routerOver, scriptedWorker, StaticSource } from "./route-fixtures.js";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe("apiary route: authentication", () => {
  it("with --token-file, answers 401 without a token and forwards with one, keeping the token from the worker", async () => {
    const seen: (string | undefined)[] = [];
    const worker = await scriptedWorker((req, res) => {
      seen.push(req.headers.authorization);
      req.resume();
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
    cleanups.push(() => worker.close());
    const token = newToken();
    const tokenFile = path.join(tempDir("apiary-route-auth-"), "tokens");
    writeFileSync(tokenFile, `${tokenFileLine("inference", "reader", token)}\n`);
    const source = new StaticSource();
    source.workers = [candidate("h/w1", worker.url)];
    const router = await routerOver(source, { tokenFile });
    cleanups.push(() => router.close());

    const anonymous = await post(`${router.url}/v1/completions`, { model: "m" });
    expect(anonymous.status).toBe(401);
    expect(JSON.parse(anonymous.body.toString()).error.code).toBe("unauthenticated");
    const wrong = await post(`${router.url}/v1/completions`, { model: "m" }, { authorization: `Bearer ${newToken()}` });
    expect(wrong.status).toBe(401);
    expect((await fetch(`${router.url}/metrics`)).status).toBe(401);
    const ok = await post(`${router.url}/v1/completions`, { model: "m" }, { authorization: `Bearer ${token}` });
    expect(ok.status).toBe(200);
    expect(seen).toEqual([undefined]);
  });
});
