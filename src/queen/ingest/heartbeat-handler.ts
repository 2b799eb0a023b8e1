import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import type { Logger } from "pino";
import { HeartbeatResponseSchema, type HeartbeatRequest, type HeartbeatResponse } from "../../../gen/apiary/v1/queen_pb.js";
import type { HiveInfo, HiveReport } from "../../../gen/apiary/v1/telemetry_pb.js";
import { StreamAbort } from "../../common/wait.js";
import { invalid } from "../../contracts/field-checks.js";
import type { HiveSessions } from "./hive-sessions.js";
import { ClusterUnavailableError, type HiveClaims } from "../registry/hive-claims.js";
import { HiveNotCurrentError, type RegistryWriter, type WorkerRejection } from "../registry/registry.js";
import { validateHello, validateReport, withoutRejected } from "./report-validation.js";
import { PartialReportBase } from "./partial-report-base.js";
import { heartbeatAck } from "./heartbeat-response-encoding.js";

export interface HeartbeatDeps {
  registry: RegistryWriter;
  sessions: HiveSessions;
  /** Absent for a single queen. */
  claims?: HiveClaims;
  reportIntervalMs: number;
  shutdownSignal: AbortSignal;
  logger: Logger;
}

type Next = { done: true } | { done: false; value: HeartbeatRequest };

/**
 * Reads the next request, or stops when the client goes away (done), the server shuts down
 * (UNAVAILABLE) or a newer stream of the same hive takes over (ABORTED).
 */
async function nextRequest(it: AsyncIterator<HeartbeatRequest>, aborted: StreamAbort, deps: HeartbeatDeps, session: AbortSignal): Promise<Next> {
  const next = it.next();
  const winner = await aborted.race(next);
  if (!(winner instanceof AbortSignal)) return winner.done ? { done: true } : { done: false, value: winner.value };
  next.catch(() => {});
  void it.return?.()?.catch(() => {});
  if (deps.shutdownSignal.aborted) throw new ConnectError("queen is shutting down", Code.Unavailable);
  if (session.aborted) throw streamEnded(session);
  return { done: true };
}

/** Why the queen ended this stream: a newer stream (ABORTED), or the reason given (the cluster's). */
function streamEnded(session: AbortSignal): ConnectError {
  if (session.reason instanceof ConnectError) return session.reason;
  return new ConnectError(`heartbeat: ${String((session.reason as Error)?.message ?? "superseded")}`, Code.Aborted);
}

/** Claims the hive in the cluster store, if there is one; a refusal sends the hive to another queen. */
async function claimHive(deps: HeartbeatDeps, info: HiveInfo, incarnation: string): Promise<void> {
  if (!deps.claims) return;
  try {
    await deps.claims.claim(info, incarnation);
  } catch (err) {
    if (err instanceof ClusterUnavailableError) throw new ConnectError(`heartbeat: ${err.message}`, Code.Unavailable);
    throw err;
  }
}

/** Applies a report; a hive evicted or replaced meanwhile gets a status that tells it to say hello again. */
function applyReport(registry: RegistryWriter, hiveId: string, incarnation: string, report: HiveReport, rejected: readonly WorkerRejection[]): number {
  try {
    return registry.applyReport(hiveId, incarnation, report, rejected);
  } catch (err) {
    if (!(err instanceof HiveNotCurrentError)) throw err;
    throw new ConnectError(`heartbeat: ${err.message}`, err.why === "evicted" ? Code.FailedPrecondition : Code.Aborted);
  }
}

/**
 * The hive's bidi stream: hello → welcome, report → ack, goodbye → evicted. Everything a hive
 * sends is validated before the registry sees it. A stream that ends without goodbye leaves the
 * hive DEGRADED (connected=false) until it reconnects or the sweeper evicts it.
 */
export async function* heartbeat(deps: HeartbeatDeps, requests: AsyncIterable<HeartbeatRequest>, ctx: HandlerContext): AsyncGenerator<HeartbeatResponse> {
  const session = new AbortController();
  const aborted = new StreamAbort([deps.shutdownSignal, session.signal, ctx.signal]);
  // One generator for the whole stream (no yield* into a second): each ack passes one fewer.
  try {
    const { registry, logger } = deps;
    const it = requests[Symbol.asyncIterator]();
    const first = await nextRequest(it, aborted, deps, session.signal);
    if (first.done || first.value.kind.case !== "hello") throw invalid("heartbeat", "first message must be hello");
    const hello = first.value.kind.value;
    validateHello(hello);
    const hiveId = hello.hive.hiveId;
    const incarnation = hello.incarnation;

    await claimHive(deps, hello.hive, incarnation);
    const { supersededIncarnation } = deps.sessions.claim(hiveId, incarnation, session);
    const joined = registry.hello(hello.hive, incarnation, deps.claims?.queenId);
    logger.info(
      { hiveId, incarnation, endpoint: hello.hive.endpoint, added: joined.added, newIncarnation: joined.newIncarnation, supersededIncarnation },
      "hive connected",
    );
    let goodbye = false;
    let reason = "stream ended without goodbye";
    const base = new PartialReportBase();
    try {
      yield create(HeartbeatResponseSchema, {
        kind: {
          case: "welcome",
          value: { reportInterval: durationFromMs(deps.reportIntervalMs), revision: BigInt(joined.revision), epoch: registry.epoch, partialReports: true },
        },
      });
      for (;;) {
        const next = await nextRequest(it, aborted, deps, session.signal);
        if (next.done) {
          if (ctx.signal.aborted) reason = "client went away";
          return;
        }
        const kind = next.value.kind;
        switch (kind.case) {
          case "report": {
            const rejected = validateReport(kind.value);
            if (session.signal.aborted) throw streamEnded(session.signal);
            const resync = base.needsResync(kind.value, registry.hive(hiveId));
            const revision = applyReport(registry, hiveId, incarnation, withoutRejected(kind.value, rejected), rejected);
            yield heartbeatAck(kind.value.seq, revision, resync);
            break;
          }
          case "goodbye":
            goodbye = true;
            reason = `goodbye: ${kind.value.reason.slice(0, 256)}`;
            // A hive that leaves workers running stays listed (DOWN) until it is back or evicted.
            if (kind.value.workersLeftRunning > 0) registry.depart(hiveId, incarnation, kind.value.reason.slice(0, 256), kind.value.workersLeftRunning);
            else registry.evict(hiveId, reason);
            return;
          case "hello":
            throw new ConnectError("hello: already received on this stream", Code.FailedPrecondition);
          default:
            throw invalid("kind", "must be one of hello, report, goodbye");
        }
      }
    } catch (err) {
      reason = err instanceof ConnectError ? `${Code[err.code]}: ${err.rawMessage}` : String(err);
      throw err;
    } finally {
      const stillCurrent = deps.sessions.release(hiveId, session);
      if (!goodbye && stillCurrent) registry.markDisconnected(hiveId, incarnation);
      logger.info({ hiveId, incarnation, reason, superseded: !stillCurrent }, "hive disconnected");
    }
  } finally {
    aborted.dispose();
  }
}
