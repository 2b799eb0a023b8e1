import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import type { Logger } from "pino";
import { callerKey, peerKey } from "../rpc/auth/authenticator.js";
import { describeIdentity } from "../rpc/auth/identity.js";
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
}

/**
 * The audit trail of the hive's writes: one structured info line per call on the "audit"
 * component (`{"component":"audit","audit":"SpawnWorker","caller":…,"outcome":…}`), argv redacted.
 */
export class WriteAudit {
  constructor(private readonly logger: Logger) {}

  record(entry: AuditEntry): void {
    const line = { ...entry, ...(entry.argv ? { argv: redactArgv(entry.argv) } : {}) };
    this.logger.info({ audit: entry.method, ...line }, `audit: ${entry.method} by ${entry.caller}: ${entry.outcome}`);
  }

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
