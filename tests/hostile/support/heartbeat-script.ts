import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { HeartbeatRequestSchema, QueenService, type HeartbeatResponse } from "../../../gen/apiary/v1/queen_pb.js";
import { createApiaryTransport } from "../../../src/rpc/transport.js";
import { AsyncQueue } from "../../queen/helpers/async-queue.js";

type Kind = MessageInitShape<typeof HeartbeatRequestSchema>["kind"];

export interface ScriptOutcome {
  /** What the queen answered, in order ("welcome", "ack", "ack resync"). */
  answers: string[];
  /** How the stream ended: "OK" or a Code name. */
  code: string;
}

/** Plays one Heartbeat stream: sends every message, then half-closes, and reads the queen's answers to the end. */
export async function heartbeatScript(url: string, messages: Kind[], timeoutMs = 5_000): Promise<ScriptOutcome> {
  const requests = new AsyncQueue<ReturnType<typeof create<typeof HeartbeatRequestSchema>>>();
  for (const kind of messages) requests.push(create(HeartbeatRequestSchema, { kind }));
  requests.end();
  const answers: string[] = [];
  const describe = (r: HeartbeatResponse) => (r.kind.case === "ack" && r.kind.value.resync ? "ack resync" : String(r.kind.case));
  try {
    for await (const r of createClient(QueenService, createApiaryTransport(url)).heartbeat(requests, { timeoutMs })) answers.push(describe(r));
    return { answers, code: "OK" };
  } catch (err) {
    return { answers, code: Code[ConnectError.from(err).code] };
  }
}
