import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import type { Logger } from "pino";
import { HiveService } from "../../gen/apiary/v1/hive_pb.js";
import { callerKey, peerKey, type Refusal } from "../rpc/auth/authenticator.js";
import { describeIdentity } from "../rpc/auth/identity.js";
import { RefusalLogLimiter } from "./refusal-log-limiter.js";
import { redactArgv } from "./workers/redact-secrets.js";

/** One SpawnWorker or StopWorker, allowed or refused: who asked, for what, and how it ended. */
export interface AuditEntry {
  method: "SpawnWorker" | "StopWorker";
  /** "client/admin/alice", "queen/main", "local" (the local credential), "anonymous" (none). */
  caller: string;
  peer: string;
  argv?: string[];
  workerId?: string;
  /** "OK" or the gRPC code's name. */
  outcome: string;
  message?: string;
  /** Refusals from this peer left out of the log since its previous line (rate limit). */
  suppressed?: number;
}

/** How long left-out refusals wait, from the first one, for a summary line per peer not yet reported. */
const SUPPRESSED_SUMMARY_AFTER_MS = 10_000;

const AUDITED: readonly AuditEntry["method"][] = [HiveService.method.spawnWorker.name as "SpawnWorker", HiveService.method.stopWorker.name as "StopWorker"];

/**
 * The audit trail of the hive's writes: one structured info line per call on the "audit"
 * component (`{"component":"audit","audit":"SpawnWorker","caller":…,"outcome":…}`), argv redacted.
 */
export class WriteAudit {
  private summaryTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly logger: Logger,
    private readonly refusals = new RefusalLogLimiter(),
  ) {}

  /**
   * A write refused before any handler ran (no or a bad credential): rate limited per peer and in
   * all, since anyone who can reach the port can cause one. Writes that were let in always get a line.
   */
  recordRefusal(entry: AuditEntry): void {
    const admitted = this.refusals.admit(entry.peer);
    if (admitted === undefined) {
      this.summaryTimer ??= setTimeout(() => this.flushSuppressed(), SUPPRESSED_SUMMARY_AFTER_MS).unref();
      return;
    }
    this.record(admitted.suppressed > 0 ? { ...entry, suppressed: admitted.suppressed } : entry);
  }

  /** One line per peer whose refusals were left out and not reported on a later line. */
  flushSuppressed(): void {
    clearTimeout(this.summaryTimer);
    this.summaryTimer = undefined;
    for (const { peer, suppressed } of this.refusals.drainSuppressed()) {
      this.logger.info({ audit: "refusals-suppressed", peer, suppressed }, `audit: ${suppressed} refused writes from ${peer} not logged one by one`);
    }
  }

  record(entry: AuditEntry): void {
    const line = { ...entry, ...(entry.argv ? { argv: redactArgv(entry.argv) } : {}) };
    this.logger.info({ audit: entry.method, ...line }, `audit: ${entry.method} by ${entry.caller}: ${entry.outcome}`);
  }

  /**
   * A SpawnWorker or StopWorker the server's authenticator refused before any handler ran (no
   * credentials, a bad token, a role that may not write): who tried, what, and the code. The body
   * was never read, so there is no argv or worker id. Wire with `server.auth.onRefusal(audit.refused)`.
   */
  readonly refused = (refusal: Refusal): void => {
    if (refusal.service !== HiveService.typeName) return;
    const method = AUDITED.find((m) => m === refusal.method);
    if (method === undefined) return;
    this.recordRefusal({
      method,
      caller: refusal.identity ? describeIdentity(refusal.identity) : "anonymous",
      peer: refusal.peer.address,
      outcome: Code[refusal.code],
      message: refusal.message,
    });
  };

  /** Runs a write handler and records its outcome. */
  async around<T>(method: AuditEntry["method"], context: HandlerContext, what: { argv?: string[]; workerId?: string }, run: () => Promise<T>, workerIdOf?: (result: T) => string): Promise<T> {
    const who = callerOf(context.values);
    try {
      const result = await run();
      this.record({ method, ...who, ...what, ...(workerIdOf ? { workerId: workerIdOf(result) } : {}), outcome: "OK" });
      return result;
    } catch (err) {
      const ce = ConnectError.from(err);
      this.record({ method, ...who, ...what, outcome: Code[ce.code], message: ce.rawMessage });
      throw err;
    }
  }
}

/** The caller of a call that passed authorisation: its identity, else the local credential's holder. */
export function callerOf(values: HandlerContext["values"]): { caller: string; peer: string } {
  const identity = values.get(callerKey);
  return { caller: identity ? describeIdentity(identity) : "local", peer: values.get(peerKey).address };
}
