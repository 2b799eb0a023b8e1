import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import {
  HeartbeatRequestSchema,
  HeartbeatResponseSchema,
  type HeartbeatRequest,
  type HeartbeatResponse,
} from "../../gen/apiary/v1/queen_pb.js";
import { exitWithParent, serveChildRpc } from "../lib/children.js";
import { cpuSecondsOf } from "../lib/proc-stats.js";

/**
 * The transport ceiling: a minimal @grpc/grpc-js server for apiary.v1.QueenService/Heartbeat that
 * decodes every request (protobuf-es fromBinary, as the queen does) and acks it, with no registry.
 * The service definition is written by hand (no proto-loader).
 */
const heartbeatService: grpc.ServiceDefinition = {
  heartbeat: {
    path: "/apiary.v1.QueenService/Heartbeat",
    requestStream: true,
    responseStream: true,
    requestSerialize: (m: HeartbeatRequest) => Buffer.from(toBinary(HeartbeatRequestSchema, m)),
    requestDeserialize: (b: Buffer) => fromBinary(HeartbeatRequestSchema, b),
    responseSerialize: (m: HeartbeatResponse) => Buffer.from(toBinary(HeartbeatResponseSchema, m)),
    responseDeserialize: (b: Buffer) => fromBinary(HeartbeatResponseSchema, b),
    originalName: "heartbeat",
  },
};

function heartbeat(call: grpc.ServerDuplexStream<HeartbeatRequest, HeartbeatResponse>): void {
  let revision = 0n;
  call.on("data", (req: HeartbeatRequest) => {
    switch (req.kind.case) {
      case "hello":
        call.write(create(HeartbeatResponseSchema, { kind: { case: "welcome", value: { reportInterval: durationFromMs(1000), revision, epoch: "grpc-ack" } } }));
        break;
      case "report":
        call.write(create(HeartbeatResponseSchema, { kind: { case: "ack", value: { seq: req.kind.value.seq, revision: ++revision } } }));
        break;
      case "goodbye":
        call.end();
        break;
    }
  });
  call.on("end", () => call.end());
  call.on("error", () => {});
}

const server = new grpc.Server({ "grpc.max_concurrent_streams": 1000, "grpc.max_receive_message_length": 4 * 1024 * 1024 });
server.addService(heartbeatService, { heartbeat });
const port = await new Promise<number>((resolve, reject) =>
  server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
);
exitWithParent(() => server.forceShutdown());
process.once("SIGTERM", () => {
  server.forceShutdown();
  process.exit(0);
});
serveChildRpc({ stats: () => ({ rss: process.memoryUsage().rss, cpuSeconds: cpuSecondsOf(process.pid) }) });
process.send?.({ type: "ready", address: `127.0.0.1:${port}` });
