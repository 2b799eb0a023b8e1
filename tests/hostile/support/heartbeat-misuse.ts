import { randomUUID } from "node:crypto";
import { create, toBinary } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { HeartbeatRequestSchema, QueenService } from "../../../gen/apiary/v1/queen_pb.js";
import { ReportScope } from "../../../gen/apiary/v1/telemetry_pb.js";
import { createApiaryTransport } from "../../../src/rpc/transport.js";
import { makeHiveInfo, syntheticReport } from "../../queen/helpers/telemetry-builders.js";
import { TestHive } from "../../queen/helpers/test-hive.js";
import { heartbeatScript, type ScriptOutcome } from "./heartbeat-script.js";
import { envelope, rawCall, rawSession } from "./raw-call.js";

// Heartbeat used against its protocol, each misuse on its own stream, against a live queen.
// Each must end in a clear code or a clear answer (a resync), and change nothing it must not.

const REFUSED = ["InvalidArgument", "FailedPrecondition"];

const hello = (hiveId: string, incarnation = randomUUID()) => ({ case: "hello" as const, value: { hive: makeHiveInfo(hiveId), incarnation } });
const report = (hiveId: string, seq: number, workers = 2) => ({ case: "report" as const, value: syntheticReport({ hiveId, seq, workers, gpus: 1 }) });

export async function heartbeatMisuse(url: string): Promise<{ failures: string[]; outcomes: Record<string, ScriptOutcome | string> }> {
  const failures: string[] = [];
  const outcomes: Record<string, ScriptOutcome | string> = {};
  const check = (name: string, outcome: ScriptOutcome, ok: (o: ScriptOutcome) => boolean) => {
    outcomes[name] = outcome;
    if (!ok(outcome)) failures.push(`${name}: answers [${outcome.answers.join(", ")}], ended ${outcome.code}`);
  };
  const refused = (o: ScriptOutcome) => REFUSED.includes(o.code);

  check("report before hello", await heartbeatScript(url, [report("misuse-early", 1)]), (o) => refused(o) && o.answers.length === 0);
  check("two hellos", await heartbeatScript(url, [hello("misuse-twice"), hello("misuse-twice")]), (o) => refused(o) && o.answers[0] === "welcome");
  check("a hello for another hive on the same stream", await heartbeatScript(url, [hello("misuse-a"), hello("misuse-b")]), (o) => refused(o) && o.answers[0] === "welcome");
  check("a report after goodbye", await heartbeatScript(url, [hello("misuse-gone"), { case: "goodbye", value: { reason: "test" } }, report("misuse-gone", 1)]), (o) => o.code !== "Internal" && o.code !== "Unknown" && !o.answers.includes("ack"));
  check("a hello without a hive", await heartbeatScript(url, [{ case: "hello", value: { incarnation: "x" } }]), (o) => refused(o) && o.answers.length === 0);
  check("an empty message", await heartbeatScript(url, [hello("misuse-empty"), { case: undefined }]), (o) => refused(o) && o.answers[0] === "welcome");
  check("a report with 4,097 workers (over the limit)", await heartbeatScript(url, [hello("misuse-huge"), report("misuse-huge", 1, 4_097)]), (o) => refused(o) && o.answers[0] === "welcome");

  // A partial report on a base the queen never had: applied nowhere, the hive is asked for a full one.
  const partial = report("misuse-partial", 2);
  partial.value.scope = ReportScope.PARTIAL;
  partial.value.baseSeq = 99n;
  partial.value.removedWorkerIds = ["nobody", "w0"];
  check("a partial report with a wrong base_seq", await heartbeatScript(url, [hello("misuse-partial"), report("misuse-partial", 1), partial]), (o) => o.code === "OK" && o.answers.join() === "welcome,ack,ack resync");

  // removed_worker_ids naming workers that never existed, on the right base: an ack, and the workers it has stay.
  const live = await TestHive.connect(url, "misuse-removed");
  try {
    await live.reportSynthetic({ workers: 3, gpus: 1 });
    const removal = syntheticReport({ hiveId: live.hiveId, seq: 2, workers: 3, gpus: 1 });
    Object.assign(removal, { scope: ReportScope.PARTIAL, baseSeq: 1n, removedWorkerIds: Array.from({ length: 1_000 }, (_, i) => `ghost-${i}`), workers: [] });
    const ack = await live.report(removal);
    const held = await createClient(QueenService, createApiaryTransport(url)).getHive({ hiveId: live.hiveId }, { timeoutMs: 2_000 });
    outcomes["removed workers that do not exist"] = `ack resync=${ack.resync}, workers ${held.hive!.workers.map((w) => w.workerId).join(",")}`;
    if (held.hive!.workers.map((w) => w.workerId).sort().join() !== "w0,w1,w2") failures.push(`removed workers that do not exist: ${outcomes["removed workers that do not exist"]}`);

    // A second stream says hello for the same live hive (a new incarnation takes it over): the old stream learns it is superseded.
    const takeover = await heartbeatScript(url, [hello(live.hiveId)]);
    check("a hello for a hive another stream holds", takeover, (o) => o.code === "OK" && o.answers[0] === "welcome");
    const stale = await live.reportSynthetic({ workers: 3, gpus: 1 }).then(() => "acked", (err: Error) => err.message);
    outcomes["the superseded stream reports"] = stale;
    if (!/aborted|failed_precondition|superseded/i.test(stale)) failures.push(`the superseded stream reports: ${stale}`);
  } finally {
    live.abort();
  }

  // Streams cut half-way through a message: END_STREAM inside an envelope, and a reset inside one.
  const helloBytes = toBinary(HeartbeatRequestSchema, create(HeartbeatRequestSchema, { kind: hello("misuse-cut") }));
  const session = rawSession(url);
  try {
    const whole = envelope(helloBytes);
    const cut = await rawCall(session, { path: "/apiary.v1.QueenService/Heartbeat", protocol: "grpc", streaming: true, body: helloBytes, wire: whole.subarray(0, whole.length - 3), timeoutMs: 3_000 });
    outcomes["stream ended inside a message"] = cut;
    if (cut === "NO_ANSWER" || cut === "MESSAGE") failures.push(`stream ended inside a message: ${cut}`);
    const afterHello = await rawCall(session, { path: "/apiary.v1.QueenService/Heartbeat", protocol: "grpc", streaming: true, body: helloBytes, wire: Buffer.concat([whole, envelope(new Uint8Array(40), 0, 4_000)]), timeoutMs: 3_000 });
    outcomes["stream ended inside the second message"] = afterHello;
    if (afterHello === "NO_ANSWER") failures.push(`stream ended inside the second message: ${afterHello}`);
  } finally {
    session.destroy();
  }
  return { failures, outcomes };
}
