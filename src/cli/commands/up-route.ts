import { createClient } from "@connectrpc/connect";
import type { Logger } from "pino";
import { QueenService } from "../../../gen/apiary/v1/queen_pb.js";
import { defineFlags, type FlagValues } from "../command.js";
import { intFlag } from "../parse-values.js";
import { createApiaryTransport } from "../../rpc/transport.js";
import { startClusterRouter, type ClusterRouter } from "../../route/cluster-router.js";

/** `apiary up`'s router: on by default, beside the queen and hive. */
export const upRouteFlags = defineFlags([
  { name: "route-port", type: "string", value: "N", env: "APIARY_ROUTE_PORT", help: "port of the OpenAI-compatible router, apiary route (0 = any free port) [default: 7840; 0 with --port 0]" },
  { name: "no-route", type: "boolean", help: "start no router" },
]);

/** The router's own flags plus the listener settings it shares with up's queen and hive. */
type UpRouteFlags = FlagValues<typeof upRouteFlags> & { host: string; port: string; insecure: boolean };

/** Starts the router on up's host; a failure (port taken) is said and leaves the rest running. */
export async function startUpRouter(flags: UpRouteFlags, queenUrl: string, logger: Logger): Promise<ClusterRouter | undefined> {
  if (flags["no-route"] === true) return undefined;
  try {
    const router = await startClusterRouter({
      queens: [createClient(QueenService, createApiaryTransport(queenUrl))],
      host: flags.host,
      port: intFlag("route-port", flags["route-port"] ?? (flags.port === "0" ? "0" : "7840"), 0, 65535)!,
      insecure: flags.insecure === true,
      logger,
    });
    process.stderr.write(
      `apiary route listening on ${router.url} (OpenAI API; try: curl -N ${router.url}/v1/chat/completions ` +
        `-d '{"model":"llama-3.1-8b-instruct","stream":true,"messages":[{"role":"user","content":"hi"}]}')\n`,
    );
    return router;
  } catch (err) {
    process.stderr.write(`apiary up: no router: ${(err as Error).message} (--route-port N to choose another port, --no-route for none)\n`);
    return undefined;
  }
}
