import { EventEmitter } from "node:events";
import { create } from "@bufbuild/protobuf";
import { durationMs } from "@bufbuild/protobuf/wkt";
import { createClient, type Client, type Transport } from "@connectrpc/connect";
import type { Logger } from "pino";
import {
  QueenService,
  type HeartbeatAck,
  type HeartbeatRequest,
  HeartbeatRequestSchema,
  type HeartbeatWelcome,
} from "../../gen/apiary/v1/queen_pb.js";
import type { HiveInfo, HiveReport } from "../../gen/apiary/v1/telemetry_pb.js";
import { Backoff } from "../common/backoff.js";
import { awaitWithin, pause, pauseUnlessWoken } from "../common/wait.js";
import { ThrottledWarning } from "./throttled-warning.js";
import { endpointName, singleQueen, type QueenEndpoint, type QueenRound } from "./queen-targets.js";
import { ReportDelta, type SendOnChangeOptions } from "./report-delta.js";

export interface HeartbeatClientOptions {
  /**
   * The queens to report to (several: `--queen a,b,c` or a name with several addresses). A broken
   * stream or a refused hello moves the hive to the next one at once; the backoff applies only
   * between rounds in which every queen failed. Unset: the one queen of transport + queenUrl.
   */
  queens?: QueenRound;
  /** A transport to the one queen (gRPC over HTTP/2 with transport pings), when queens is unset. */
  transport?: Transport;
  /** That queen's URL, for logs. */
  queenUrl?: string;
  /** What the hive says in its Hello. */
  info: HiveInfo;
  /** Fresh per hive process start. */
  incarnation: string;
  /** The latest completed report of the monitor; undefined before the first tick. */
  latestReport: () => HiveReport | undefined;
  /** Called with each report (as latestReport gave it) once the queen has acked it. */
  onDelivered?: (report: HiveReport) => void;
  logger: Logger;
  /** Until the queen's Welcome says otherwise; default 1000 ms. */
  reportIntervalMs?: number;
  /** Time allowed for a Welcome or an ack; default 5000 ms. */
  ackDeadlineMs?: number;
  /** Reconnect backoff; defaults 250 ms base, 5000 ms cap. */
  backoffBaseMs?: number;
  backoffCapMs?: number;
  /** How often a repeating connection failure is logged again; default 60 s. */
  failureLogIntervalMs?: number;
  /**
   * Send-on-change to a queen that accepts partial reports (HeartbeatWelcome.partial_reports):
   * the bands and the full-report interval; false: full reports only. Default on, default bands.
   */
  sendOnChange?: SendOnChangeOptions | false;
}

export interface HeartbeatStopOptions {
  reason?: string;
  /** Workers the hive leaves running (sent in the Goodbye: the queen then keeps the hive listed). */
  workersLeftRunning?: number;
  /** The most stop() waits for the Goodbye to be delivered; default 2000 ms. */
  deadlineMs?: number;
}

/** Events: "connected" (HeartbeatWelcome), "ack" (HeartbeatAck), "disconnected" (Error). */
export interface HeartbeatClientEvents {
  connected: [HeartbeatWelcome];
  ack: [HeartbeatAck];
  disconnected: [Error];
}

const MIN_REPORT_INTERVAL_MS = 10;
const MAX_REPORT_INTERVAL_MS = 300_000;

/** One open Heartbeat stream. */
interface Connection {
  abort: AbortController;
  welcomed: boolean;
  acked: boolean;
  openedAt: number;
  /** Ends the outbound stream's current wait early (the welcome arrived, or flush()). */
  wakeup: (() => void) | undefined;
  /** flush() asked for the latest report to go out without waiting for the interval. */
  flushRequested: boolean;
  /** When the oldest unanswered message (the hello, then reports) was sent, by seq. */
  unanswered: { seq: bigint; sentAt: number; report?: HiveReport }[];
  /** Set once the queen's welcome says it takes partial reports (and send-on-change is on). */
  delta: ReportDelta | undefined;
}

/**
 * The hive's side of the Heartbeat stream: Hello, then the monitor's latest report
 * every interval, each acked within the ack deadline. Any failure drops the stream
 * and reconnects with exponential backoff and full jitter, until stop().
 */
export class HeartbeatClient extends EventEmitter<HeartbeatClientEvents> {
  private readonly queens: QueenRound;
  private readonly clients = new WeakMap<Transport, Client<typeof QueenService>>();
  private readonly ackDeadlineMs: number;
  private readonly backoff: Backoff;
  private readonly failures: ThrottledWarning;
  private readonly stopController = new AbortController();
  private reportIntervalMs: number;
  private current: Connection | undefined;
  private loop: Promise<void> | undefined;
  private seq = 0n;
  private attemptCount = 0;
  private everConnected = false;
  private connectedNow = false;
  private revision: bigint | undefined;
  private reason = "hive shutting down";
  /** The queen of the open stream, and the last one that acked a report. */
  private currentName: string | undefined;
  private lastAckedName: string | undefined;
  private workersLeftRunning = 0;

  constructor(private readonly options: HeartbeatClientOptions) {
    super();
    if (options.queens) this.queens = options.queens;
    else if (options.transport && options.queenUrl) this.queens = singleQueen(options.queenUrl, options.transport);
    else throw new RangeError("heartbeat client: give queens, or transport and queenUrl");
    this.reportIntervalMs = options.reportIntervalMs ?? 1000;
    this.ackDeadlineMs = options.ackDeadlineMs ?? 5000;
    this.backoff = new Backoff({ baseMs: options.backoffBaseMs ?? 250, capMs: options.backoffCapMs ?? 5000 });
    this.failures = new ThrottledWarning(options.logger, options.failureLogIntervalMs ?? 60_000);
  }

  /** True while a stream is open and welcomed by the queen. */
  get connected(): boolean {
    return this.connectedNow;
  }

  /** The queen of the open stream (URL, and the pinned address of a name with several), if any. */
  get currentQueen(): string | undefined {
    return this.current ? this.currentName : undefined;
  }

  /** Registry revision from the queen's last ack (or welcome). */
  get lastAckRevision(): bigint | undefined {
    return this.revision;
  }

  /** Streams opened (or tried) since start. */
  get attempts(): number {
    return this.attemptCount;
  }

  /** Seq of the last report sent. */
  get lastSeq(): bigint {
    return this.seq;
  }

  /** Report interval in force (from the Welcome, else the configured one). */
  get currentReportIntervalMs(): number {
    return this.reportIntervalMs;
  }

  /** Sends the latest report now instead of at the next interval (no-op while not connected). */
  flush(): void {
    const connection = this.current;
    if (!connection?.welcomed) return;
    connection.flushRequested = true;
    connection.wakeup?.();
  }

  start(): void {
    if (this.loop || this.stopController.signal.aborted) return;
    this.loop = this.run();
  }

  /** Sends Goodbye on the open stream (bounded by the deadline) and stops reconnecting. */
  async stop(options: HeartbeatStopOptions = {}): Promise<void> {
    this.reason = options.reason ?? this.reason;
    this.workersLeftRunning = options.workersLeftRunning ?? 0;
    this.stopController.abort();
    if (!this.loop) return;
    const outcome = await awaitWithin(this.loop, options.deadlineMs ?? 2000);
    if (!outcome.settled) {
      this.options.logger.warn({ queen: this.currentName }, "goodbye to queen not confirmed before its deadline");
      this.current?.abort.abort(new Error("hive stopping"));
      await this.loop;
    }
  }

  /**
   * Tries the queens in turn. A round starts after a stream that was acked ended (counting its
   * queen as tried) or after the backoff; names are resolved again at the start of each round.
   */
  private async run(): Promise<void> {
    const stop = this.stopController.signal;
    let endpoints: QueenEndpoint[] = [];
    let index = 0;
    let triedInRound = 0;
    while (!stop.aborted) {
      if (triedInRound === 0) {
        endpoints = await this.queens.round();
        if (stop.aborted) return;
        index %= endpoints.length;
      }
      const endpoint = endpoints[index];
      const { error, acked } = await this.connectOnce(endpoint);
      if (stop.aborted) return;
      const more = endpoints.length > 1 ? "; trying the next queen" : "; reconnecting";
      this.failures.fail({ queen: endpointName(endpoint), err: error.message, attempt: this.backoff.failures + 1 }, `heartbeat to queen failed${more}`);
      index = (index + 1) % endpoints.length;
      triedInRound = acked ? 1 : triedInRound + 1;
      if (triedInRound >= endpoints.length) {
        triedInRound = 0;
        await pause(this.backoff.next(), stop);
      }
    }
  }

  private clientFor(transport: Transport): Client<typeof QueenService> {
    let client = this.clients.get(transport);
    if (!client) {
      client = createClient(QueenService, transport);
      this.clients.set(transport, client);
    }
    return client;
  }

  /** Runs one stream until it fails or the client stops; returns why it ended and whether a report was acked. */
  private async connectOnce(endpoint: QueenEndpoint): Promise<{ error: Error; acked: boolean }> {
    this.attemptCount += 1;
    this.currentName = endpointName(endpoint);
    const connection: Connection = {
      abort: new AbortController(),
      welcomed: false,
      acked: false,
      openedAt: performance.now(),
      wakeup: undefined,
      flushRequested: false,
      unanswered: [{ seq: 0n, sentAt: performance.now() }],
      delta: undefined,
    };
    this.current = connection;
    const watchdog = setInterval(() => this.checkDeadline(connection), Math.max(10, Math.min(500, this.ackDeadlineMs / 5)));
    watchdog.unref();
    let ended: Error = new Error("queen closed the heartbeat stream");
    try {
      const responses = this.clientFor(endpoint.transport).heartbeat(this.outbound(connection), { signal: connection.abort.signal });
      for await (const response of responses) {
        if (response.kind.case === "welcome") this.onWelcome(connection, response.kind.value);
        else if (response.kind.case === "ack") this.onAck(connection, response.kind.value);
      }
    } catch (error) {
      const reason: unknown = connection.abort.signal.reason;
      ended = connection.abort.signal.aborted && reason instanceof Error ? reason : toError(error);
    } finally {
      clearInterval(watchdog);
      connection.abort.abort(ended);
      this.current = undefined;
    }
    if (connection.acked && performance.now() - connection.openedAt >= this.backoffStableMs()) this.backoff.reset();
    if (this.connectedNow) {
      this.connectedNow = false;
      this.options.logger.debug({ queen: this.currentName, err: ended.message }, "heartbeat stream ended");
      this.emit("disconnected", ended);
    }
    return { error: ended, acked: connection.acked };
  }

  private async *outbound(connection: Connection): AsyncGenerator<HeartbeatRequest> {
    const wake = [connection.abort.signal, this.stopController.signal];
    yield create(HeartbeatRequestSchema, {
      kind: { case: "hello", value: { hive: this.options.info, incarnation: this.options.incarnation } },
    });
    let nextAt = performance.now();
    for (;;) {
      const waitMs = connection.flushRequested ? 0 : connection.welcomed ? nextAt - performance.now() : this.ackDeadlineMs;
      connection.flushRequested = false;
      await pauseUnlessWoken(waitMs, wake, (w) => (connection.wakeup = w));
      if (connection.abort.signal.aborted) return;
      if (this.stopController.signal.aborted) {
        yield create(HeartbeatRequestSchema, { kind: { case: "goodbye", value: { reason: this.reason, workersLeftRunning: this.workersLeftRunning } } });
        return;
      }
      if (!connection.welcomed) continue;
      const report = this.options.latestReport();
      if (report) {
        this.seq += 1n;
        connection.unanswered.push({ seq: this.seq, sentAt: performance.now(), report });
        const value = connection.delta ? connection.delta.next(report, this.seq) : { ...report, seq: this.seq };
        yield create(HeartbeatRequestSchema, { kind: { case: "report", value } });
      }
      // A report flushed ahead of its slot leaves the schedule as it was.
      if (performance.now() < nextAt) continue;
      nextAt += this.reportIntervalMs;
      if (nextAt < performance.now()) nextAt = performance.now() + this.reportIntervalMs;
    }
  }

  private onWelcome(connection: Connection, welcome: HeartbeatWelcome): void {
    const interval = welcome.reportInterval ? durationMs(welcome.reportInterval) : 0;
    if (interval > 0) this.reportIntervalMs = Math.min(MAX_REPORT_INTERVAL_MS, Math.max(MIN_REPORT_INTERVAL_MS, interval));
    connection.welcomed = true;
    const sendOnChange = this.options.sendOnChange ?? {};
    if (welcome.partialReports && sendOnChange !== false) connection.delta = new ReportDelta(this.options.info.memoryTotalBytes, sendOnChange);
    connection.unanswered = connection.unanswered.filter((m) => m.seq !== 0n);
    this.revision = welcome.revision;
    this.connectedNow = true;
    this.options.logger.debug({ queen: this.currentName, reportIntervalMs: this.reportIntervalMs, epoch: welcome.epoch }, "queen welcomed the hive");
    connection.wakeup?.();
    this.emit("connected", welcome);
  }

  private onAck(connection: Connection, ack: HeartbeatAck): void {
    while (connection.unanswered.length > 0 && connection.unanswered[0].seq <= ack.seq) {
      const answered = connection.unanswered.shift()!;
      if (answered.report) this.options.onDelivered?.(answered.report);
    }
    this.revision = ack.revision;
    if (ack.resync) connection.delta?.fullNext();
    if (!connection.acked) {
      connection.acked = true;
      const queen = this.currentName;
      const from = this.lastAckedName;
      const moved = this.everConnected && queen !== from;
      if (this.failures.isFailing) this.failures.recover({ queen, ...(moved ? { from } : {}) }, moved ? `moved to queen ${queen}` : "heartbeat to queen restored");
      else if (!this.everConnected) this.options.logger.info({ queen, hiveId: this.options.info.hiveId }, "heartbeat to queen established");
      else if (moved) this.options.logger.info({ queen, from }, `moved to queen ${queen}`);
      this.everConnected = true;
      this.lastAckedName = queen;
    }
    this.emit("ack", ack);
  }

  private checkDeadline(connection: Connection): void {
    const oldest = connection.unanswered[0];
    if (!oldest || performance.now() - oldest.sentAt < this.ackDeadlineMs) return;
    const what = oldest.seq === 0n ? "welcome" : `ack for report ${oldest.seq}`;
    connection.abort.abort(new Error(`no ${what} within the ack deadline of ${this.ackDeadlineMs} ms`));
  }

  private backoffStableMs(): number {
    return Math.max(this.options.backoffCapMs ?? 5000, this.reportIntervalMs * 2);
  }
}

function toError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
