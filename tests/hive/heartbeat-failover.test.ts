import { Code, ConnectError, createClient, type ServiceImpl } from "@connectrpc/connect";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { QueenService } from "../../gen/apiary/v1/queen_pb.js";
import { HeartbeatClient, type HeartbeatClientOptions } from "../../src/hive/heartbeat-client.js";
import { QueenTargets, type LookupAll } from "../../src/hive/queen-targets.js";
import { parseQueenList } from "../../src/common/queen-addresses.js";
import { startQueen, type Queen } from "../../src/queen/queen.js";
import { startRpcServer, type RpcServer } from "../../src/rpc/server.js";
import { createApiaryTransport } from "../../src/rpc/transport.js";
import { startFailoverClient } from "./failover-client.js";
import { captureLogs, type CapturedLogs } from "./hive-test-helpers.js";
import { waitUntil } from "../helpers/wait.js";

const quiet = pino({ level: "silent" });
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function queenOn(port = 0, host = "127.0.0.1", allowHosts: string[] = []): Promise<Queen> {
  const queen = await startQueen({ host, port, logger: quiet, reportIntervalMs: 100, shutdownGraceMs: 100, security: { allowHosts } });
  cleanups.push(() => queen.close());
  return queen;
}

/** A Heartbeat endpoint that refuses every hello, as a queen without its cluster lease does. */
async function refusingQueen(code = Code.Unavailable): Promise<RpcServer & { hellos: number }> {
  let hellos = 0;
  const impl: Partial<ServiceImpl<typeof QueenService>> = {
    // eslint-disable-next-line require-yield
    async *heartbeat(requests) {
      for await (const request of requests) {
        if (request.kind.case === "hello") {
          hellos += 1;
          throw new ConnectError("queen has no cluster lease", code);
        }
      }
    },
  };
  const server = await startRpcServer({ host: "127.0.0.1", port: 0, logger: quiet, services: [{ service: QueenService, impl }], shutdownGraceMs: 100 });
  cleanups.push(() => server.close());
  return Object.defineProperty(server, "hellos", { get: () => hellos }) as RpcServer & { hellos: number };
}

function startClient(urls: string[], overrides: Partial<HeartbeatClientOptions> & { lookup?: LookupAll } = {}): HeartbeatClient {
  const { lookup, ...rest } = overrides;
  return startFailoverClient({ urls, hiveId: "hive-f", transport: { pingIntervalMs: 1000, pingTimeoutMs: 1000 }, ...(lookup ? { lookup } : {}), overrides: rest }, cleanups);
}

async function connectedHives(queen: Queen): Promise<string[]> {
  const { hives } = await createClient(QueenService, createApiaryTransport(queen.url)).listHives({});
  return hives.filter((h) => h.connected).map((h) => h.info?.hiveId ?? "");
}

async function waitOn(queen: Queen, client: HeartbeatClient, what: string): Promise<void> {
  await waitUntil(async () => client.currentQueen === queen.url && client.connected && (await connectedHives(queen)).includes("hive-f"), what);
}

const moves = (logs: CapturedLogs) => logs.lines.filter((l) => String(l.msg).startsWith("moved to queen")).map((l) => l.queen);

describe("heartbeat with several queens", () => {
  it("moves to the second queen when the first closes, and back to the first when the second goes", async () => {
    const a = await queenOn();
    const b = await queenOn();
    const logs = captureLogs();
    const client = startClient([a.url, b.url], { logger: logs.logger });
    await waitOn(a, client, "the hive on queen A");
    expect(logs.lines.find((l) => l.msg === "heartbeat to queen established")?.queen).toBe(a.url);

    const port = a.server.port;
    await a.close();
    await waitOn(b, client, "the hive moved to queen B");
    expect(moves(logs)).toEqual([b.url]);

    const a2 = await queenOn(port);
    await b.close();
    await waitOn(a2, client, "the hive back on queen A");
    expect(moves(logs)).toEqual([b.url, a2.url]);
  });

  it("moves on at once from a queen that refuses its hello, without backing off inside a round", async () => {
    const refusing = await refusingQueen();
    const b = await queenOn();
    // A backoff inside the round would outlast the wait below.
    const client = startClient([refusing.url, b.url], { backoffBaseMs: 60_000, backoffCapMs: 60_000 });
    await waitOn(b, client, "the hive on queen B after A refused its hello");
    expect(refusing.hellos).toBe(1);
    expect(client.attempts).toBe(2);
  });

  it("moves on from ABORTED and FAILED_PRECONDITION refusals as well", async () => {
    const aborted = await refusingQueen(Code.Aborted);
    const precondition = await refusingQueen(Code.FailedPrecondition);
    const b = await queenOn();
    const client = startClient([aborted.url, precondition.url, b.url], { backoffBaseMs: 60_000, backoffCapMs: 60_000 });
    await waitOn(b, client, "the hive on the third queen");
    expect([aborted.hellos, precondition.hellos]).toEqual([1, 1]);
  });

  it("keeps trying every queen in turn, round after round, while each refuses", async () => {
    const refusing = await refusingQueen();
    const other = await refusingQueen(Code.Aborted);
    const client = startClient([refusing.url, other.url]);
    await waitUntil(() => refusing.hellos >= 3 && other.hellos >= 3, "three rounds over both queens");
    expect(client.connected).toBe(false);
    expect(Math.abs(refusing.hellos - other.hellos)).toBeLessThanOrEqual(1);
  });

  it("tries every address of a name with several records, each pinned, and fails over between them", async () => {
    // A plaintext queen serves a name other than loopback's only when told to (DNS rebinding defence).
    const a = await queenOn(0, "127.0.0.1", ["queens.test"]);
    const b = await queenOn(a.server.port, "127.0.0.2", ["queens.test"]);
    let lookups = 0;
    const lookup: LookupAll = (host) => {
      lookups += 1;
      expect(host).toBe("queens.test");
      return Promise.resolve([{ address: "127.0.0.2", family: 4 }, { address: "127.0.0.1", family: 4 }]);
    };
    const url = `http://queens.test:${a.server.port}`;
    const client = startClient([url], { lookup });
    await waitUntil(async () => client.currentQueen === `${url} (127.0.0.2)` && (await connectedHives(b)).includes("hive-f"), "the hive on the first address");
    await b.close();
    await waitUntil(async () => client.currentQueen === `${url} (127.0.0.1)` && (await connectedHives(a)).includes("hive-f"), "the hive on the second address");
    expect(lookups).toBe(1);
  });
});

describe("QueenTargets", () => {
  const transport = createApiaryTransport("http://127.0.0.1:1");
  it("resolves names again at every round and follows the answer", async () => {
    let answer = [{ address: "10.0.0.1", family: 4 }, { address: "10.0.0.2", family: 4 }];
    const made: string[] = [];
    const targets = new QueenTargets({
      urls: ["http://queens.test:7833", "http://10.0.0.9:7833"],
      transport: (url, pinned) => (made.push(`${url} ${pinned?.address ?? "-"}`), transport),
      lookup: () => Promise.resolve(answer),
    });
    const names = async () => (await targets.round()).map((e) => `${e.url} ${e.address ?? "-"}`);
    expect(await names()).toEqual(["http://queens.test:7833 10.0.0.1", "http://queens.test:7833 10.0.0.2", "http://10.0.0.9:7833 -"]);
    answer = [{ address: "10.0.0.2", family: 4 }, { address: "fd00::3", family: 6 }];
    expect(await names()).toEqual(["http://queens.test:7833 10.0.0.2", "http://queens.test:7833 fd00::3", "http://10.0.0.9:7833 -"]);
    answer = [{ address: "10.0.0.1", family: 4 }];
    expect(await names()).toEqual(["http://queens.test:7833 -", "http://10.0.0.9:7833 -"]);
    // One transport per address, kept across rounds; the URLs' own made at the start.
    expect(made).toEqual(["http://queens.test:7833 -", "http://10.0.0.9:7833 -", "http://queens.test:7833 10.0.0.1", "http://queens.test:7833 10.0.0.2", "http://queens.test:7833 fd00::3"]);
  });

  it("fails at once for a URL no transport can be made for", () => {
    expect(() => new QueenTargets({ urls: ["http://q:1"], transport: () => { throw new Error("TLS settings given for a plaintext http:// address"); } })).toThrow(/plaintext/);
  });

  it("keeps a name whose lookup fails as one endpoint, resolved by the connection", async () => {
    const targets = new QueenTargets({ urls: ["http://nowhere.test:7833"], transport: () => transport, lookup: () => Promise.reject(new Error("ENOTFOUND")) });
    expect((await targets.round()).map((e) => [e.url, e.address])).toEqual([["http://nowhere.test:7833", undefined]]);
  });
});

describe("parseQueenList", () => {
  it("normalizes each address, keeps the order and drops duplicates", () => {
    expect(parseQueenList("10.0.0.1:7833, http://b:7833,10.0.0.1:7833")).toEqual(["http://10.0.0.1:7833", "http://b:7833"]);
    expect(parseQueenList("a:1,b:2", true)).toEqual(["https://a:1", "https://b:2"]);
  });

  it("names a bad entry", () => {
    expect(() => parseQueenList("a:1,,b:2")).toThrow(/empty entry/);
    expect(() => parseQueenList(" , ")).toThrow(/must not be empty/);
    expect(() => parseQueenList("a:1,ftp://b")).toThrow(/scheme/);
  });
});
