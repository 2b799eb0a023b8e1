import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { HiveStatusSchema } from "../../../gen/apiary/v1/queen_pb.js";
import { FollowHeldHivesResponseSchema, QueenPeerService } from "../../../gen/apiary/v1/queen_peer_pb.js";
import { PeerFollower } from "../../../src/queen/cluster/peer-follower.js";
import { Backoff } from "../../../src/common/backoff.js";
import { startRpcServer, type RpcServer } from "../../../src/rpc/server.js";
import { createApiaryTransport } from "../../../src/rpc/transport.js";
import { untilAborted } from "../../../src/common/wait.js";
import { waitUntil } from "../../helpers/wait.js";
import { makeHiveInfo } from "../helpers/telemetry-builders.js";

let server: RpcServer | undefined;
let follower: PeerFollower | undefined;
afterEach(async () => {
  await follower?.close();
  await server?.close();
});

const status = (hiveId: string) => create(HiveStatusSchema, { info: makeHiveInfo(hiveId), incarnation: "i" });

describe("PeerFollower", () => {
  it("reconnects after a broken stream, and the new snapshot replaces what it had from that queen", async () => {
    let calls = 0;
    server = await startRpcServer({
      host: "127.0.0.1",
      port: 0,
      logger: pino({ level: "silent" }),
      shutdownGraceMs: 100,
      services: [
        {
          service: QueenPeerService,
          impl: {
            async *followHeldHives(_req: unknown, ctx: HandlerContext) {
              calls++;
              if (calls === 1) {
                yield create(FollowHeldHivesResponseSchema, { queenId: "p", hives: [status("h1"), status("h2")], snapshotEnd: true });
                throw new ConnectError("going away", Code.Unavailable);
              }
              yield create(FollowHeldHivesResponseSchema, { queenId: "p", hives: [status("h1")], snapshotEnd: true });
              yield create(FollowHeldHivesResponseSchema, { queenId: "p", hives: [status("h3")] });
              await untilAborted(ctx.signal);
            },
          },
        },
      ],
    });
    const seen: string[] = [];
    follower = new PeerFollower({
      selfId: "me",
      peerId: "p",
      url: server.url,
      transport: createApiaryTransport(server.url),
      flushIntervalMs: 10,
      logger: pino({ level: "silent" }),
      backoff: new Backoff({ baseMs: 10, capMs: 50 }),
      onHive: (_peer, hiveId, s) => seen.push(`${hiveId}:${s ? "state" : "released"}`),
    });
    follower.start();
    await waitUntil(() => follower!.mirror.has("h3"), "the second stream's update");
    expect(calls).toBe(2);
    expect([...follower.mirror.keys()].sort()).toEqual(["h1", "h3"]);
    expect(seen).toEqual(["h1:state", "h2:state", "h1:state", "h2:released", "h3:state"]);
    expect(follower.live).toBe(true);
  });
});
