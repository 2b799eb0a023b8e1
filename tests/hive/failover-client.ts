import { create } from "@bufbuild/protobuf";
import { pino } from "pino";
import { HiveInfoSchema, HiveReportSchema } from "../../gen/apiary/v1/telemetry_pb.js";
import { HeartbeatClient, type HeartbeatClientOptions } from "../../src/hive/heartbeat-client.js";
import { QueenTargets, type LookupAll } from "../../src/hive/queen-targets.js";
import { createApiaryTransport, type ApiaryTransportOptions } from "../../src/rpc/transport.js";

export interface FailoverClientOptions {
  urls: string[];
  hiveId: string;
  /** Transport options for every queen (credentials, pings). */
  transport?: Omit<ApiaryTransportOptions, "pinnedAddress">;
  lookup?: LookupAll;
  overrides?: Partial<HeartbeatClientOptions>;
}

/** A started heartbeat client over several queens, with short intervals; `cleanups` gets its stop. */
export function startFailoverClient(opts: FailoverClientOptions, cleanups: (() => Promise<void>)[]): HeartbeatClient {
  const client = new HeartbeatClient({
    queens: new QueenTargets({
      urls: opts.urls,
      transport: (url, pinnedAddress) => createApiaryTransport(url, { ...opts.transport, ...(pinnedAddress ? { pinnedAddress } : {}) }),
      ...(opts.lookup ? { lookup: opts.lookup } : {}),
    }),
    info: create(HiveInfoSchema, { hiveId: opts.hiveId, hostname: "test" }),
    incarnation: "incarnation-1",
    latestReport: () => create(HiveReportSchema, {}),
    logger: pino({ level: "silent" }),
    reportIntervalMs: 100,
    ackDeadlineMs: 1000,
    backoffBaseMs: 20,
    backoffCapMs: 200,
    ...opts.overrides,
  });
  cleanups.push(() => client.stop({ deadlineMs: 500 }));
  client.start();
  return client;
}
