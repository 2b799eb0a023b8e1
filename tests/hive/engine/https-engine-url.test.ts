import { readFileSync } from "node:fs";
import { createServer as createHttpServer, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EngineScraper } from "../../../src/hive/engine/engine-scraper.js";
import { TestPki } from "../../rpc/support/test-pki.js";

const vllm = readFileSync(path.join(import.meta.dirname, "fixtures", "vllm-v1-two-ranks.txt"), "utf8");
const servers: Server[] = [];
const listen = async (server: Server): Promise<number> => {
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return (server.address() as AddressInfo).port;
};

// A worker spawned with engine_metrics_url https://… threw synchronously inside node:http's request
// and took every worker's engine load on that hive with it, with no error anywhere.
describe("an https engine metrics URL", () => {
  let goodUrl: string;
  let httpsUrl: string;
  beforeAll(async () => {
    const pki = await TestPki.create();
    const cert = await pki.issue("engine", { kind: "hive", name: "engine" });
    const body = (_req: unknown, res: import("node:http").ServerResponse) => res.writeHead(200, { "content-type": "text/plain" }).end(vllm);
    goodUrl = `http://127.0.0.1:${await listen(createHttpServer(body))}/metrics`;
    // Served with a certificate of a private CA: the scrape verifies it, so this one fails on its own.
    const tls = createHttpsServer({ cert: readFileSync(cert.cert), key: readFileSync(cert.key) }, body) as unknown as Server;
    httpsUrl = `https://127.0.0.1:${await listen(tls)}/metrics`;
  });
  afterAll(async () => {
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
  });

  it("is scraped over TLS; its failure is its own worker's error and the good worker next to it keeps its load", async () => {
    const scraper = new EngineScraper({
      targets: () => [
        { workerId: "good", url: goodUrl },
        { workerId: "tls", url: httpsUrl },
        { workerId: "odd", url: "ftp://127.0.0.1/metrics" },
      ],
      deadlineMs: 2000,
    });
    const outcomes = await scraper.scrape();
    expect(outcomes.get("good")?.error).toBeUndefined();
    expect(outcomes.get("good")?.load?.requestsRunning).toBeGreaterThan(0);
    expect(outcomes.get("tls")?.error?.message).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/metrics: .*(certificate|self.signed)/i);
    expect(outcomes.get("odd")?.error?.message).toContain("only http:// and https://");
  });
});
