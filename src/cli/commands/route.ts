import { QueenService } from "../../../gen/apiary/v1/queen_pb.js";
import { CliError, UsageError, defineCommand, defineFlags, type FlagValues } from "../command.js";
import { queenFlag } from "../common-flags.js";
import { choiceFlag, durationFlag, intFlag, sizeFlag } from "../parse-values.js";
import { connect, type ConnectionFlags } from "../rpc-client.js";
import { logLevelFlag, serverSecurity, serverSecurityFlags } from "../server-flags.js";
import { createLogger } from "../../common/logger.js";
import { onShutdownSignals } from "../../common/shutdown-signals.js";
import { startClusterRouter } from "../../route/cluster-router.js";
import { ROUTE_POLICIES, type RoutePolicy } from "../../route/picker.js";

export const DEFAULT_ROUTE_LISTEN = "127.0.0.1:7840";

/** How the router reaches the queen: prefixed, since the listener's own TLS and tokens take the plain names. */
const queenConnectionFlags = defineFlags([
  queenFlag,
  { name: "context", type: "string", value: "NAME", env: "APIARY_CONTEXT", help: "context of the config file for the queen's address and credentials" },
  { name: "queen-ca", type: "string", value: "FILE", env: "APIARY_QUEEN_CA", help: "CA to verify the queen with (https)" },
  { name: "queen-cert", type: "string", value: "FILE", env: "APIARY_QUEEN_CERT", help: "client certificate for the queen (mutual TLS)" },
  { name: "queen-key", type: "string", value: "FILE", env: "APIARY_QUEEN_KEY", help: "key of --queen-cert" },
  { name: "queen-token-file", type: "string", value: "FILE", env: "APIARY_QUEEN_TOKEN_FILE", help: "file holding the bearer token for the queen" },
]);

export const routeCommand = defineCommand({
  name: "route",
  usage: "apiary route [--queen ADDR] [--listen 127.0.0.1:7840] [--prefix-affinity] [--session-header x-session-id] [flags]",
  description: [
    "POST /v1/chat/completions, /v1/completions, /v1/embeddings go to a worker serving the body's `model`,",
    "chosen from a live Watch of the cluster (no call per request): fewest waiting, then running, then KV",
    "cache, plus the router's own requests since the engine's last reading. Responses (server-sent events",
    "included) stream through as they come. GET /v1/models lists the models served; GET /metrics its own series.",
    "A worker's API is found from its label apiary.io/openai-url or apiary.io/openai-port, else the origin of",
    "its engine metrics endpoint. Beyond loopback the listener needs TLS and client authentication, as the",
    "queen's does. See docs/route.md.",
  ].join("\n"),
  flags: [
    { name: "listen", type: "string", value: "HOST:PORT", env: "APIARY_ROUTE_LISTEN", default: DEFAULT_ROUTE_LISTEN, help: "address of the router's HTTP listener (port 0 = any free port)" },
    ...queenConnectionFlags,
    ...serverSecurityFlags,
    { name: "policy", type: "string", value: "NAME", env: "APIARY_ROUTE_POLICY", default: "least-loaded", help: `how to choose among a model's workers: ${ROUTE_POLICIES.join("|")}` },
    { name: "prefix-affinity", type: "boolean", env: "APIARY_ROUTE_PREFIX_AFFINITY", help: "keep requests whose prompts start alike on one worker (consistent hashing), for its prefix cache" },
    { name: "prefix-chars", type: "string", value: "N", default: "256", help: "characters of the prompt hashed for --prefix-affinity" },
    { name: "prefix-max-waiting", type: "string", value: "N", default: "0", help: "a prefix leaves its worker while that worker has more than N requests waiting" },
    { name: "prefix-max-imbalance", type: "string", value: "N", default: "2", help: "… or more than N requests running beyond the least busy worker" },
    { name: "session-header", type: "string", value: "NAME", env: "APIARY_ROUTE_SESSION_HEADER", help: "requests with the same value of this header go to the same worker (e.g. x-session-id)" },
    { name: "max-waiting", type: "string", value: "N", env: "APIARY_ROUTE_MAX_WAITING", help: "a worker with more requests waiting takes no more; all of a model's over it: 503 with Retry-After" },
    { name: "max-body", type: "string", value: "SIZE", default: "4MiB", help: "largest request body (413 beyond)" },
    { name: "connect-timeout", type: "string", value: "DUR", default: "2s", help: "a worker that does not accept the connection within this is tried elsewhere" },
    logLevelFlag,
  ],
  async run({ flags, positionals }) {
    if (positionals.length > 0) throw new UsageError(`apiary route: unexpected argument ${positionals[0]}`);
    const { host, port } = parseListen(flags.listen);
    const security = serverSecurity(flags);
    const logger = createLogger("route", { level: flags["log-level"] });
    const maxBody = sizeFlag("max-body", flags["max-body"])!;
    if (maxBody < 1n || maxBody > 256n * 1024n * 1024n) throw new UsageError(`--max-body ${String(flags["max-body"])}: expected 1 B to 256 MiB`);
    const { clients, url: queenUrl } = await connect(QueenService, queenClientFlags(flags));
    const router = await startClusterRouter({
      queens: clients.map((c) => c.client),
      onRetry: (err, failures) => {
        if (failures === 1 || failures % 10 === 0) logger.warn({ queen: queenUrl, err: err?.message, failures }, "watch of the queen interrupted; resuming");
      },
      host, port, logger, ...security,
      policy: choiceFlag("policy", flags.policy, Object.fromEntries(ROUTE_POLICIES.map((p) => [p, p])) as Record<string, RoutePolicy>),
      prefixAffinity: flags["prefix-affinity"] === true,
      prefixChars: intFlag("prefix-chars", flags["prefix-chars"], 1, 1_000_000),
      prefixMaxWaiting: intFlag("prefix-max-waiting", flags["prefix-max-waiting"], 0, 1_000_000),
      prefixMaxImbalance: intFlag("prefix-max-imbalance", flags["prefix-max-imbalance"], 0, 1_000_000),
      maxWaiting: intFlag("max-waiting", flags["max-waiting"], 0, 1_000_000),
      sessionHeader: flags["session-header"],
      maxBodyBytes: Number(maxBody),
      connectTimeoutMs: durationFlag("connect-timeout", flags["connect-timeout"]),
    }).catch((err: Error) => {
      throw new CliError(`router cannot start: ${err.message}`);
    });
    onShutdownSignals(() => router.close(), { logger, timeoutMs: 15_000 });
    process.stderr.write(`apiary route listening on ${router.url} (queen ${queenUrl}; OpenAI API at ${router.url}/v1)\n`);
    return new Promise<number>(() => {});
  },
});

/** "127.0.0.1:7840", "[::1]:7840", ":7840" (loopback). */
export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text.trim());
  if (!m) throw new UsageError(`--listen ${text}: expected HOST:PORT, e.g. 127.0.0.1:7840 or [::1]:7840`);
  const host = m[1] ?? (m[2] || "127.0.0.1");
  return { host, port: intFlag("listen", m[3], 0, 65535)! };
}

/** The connection flags rpc-client.ts reads, from the router's queen-prefixed ones. */
function queenClientFlags(flags: FlagValues<typeof queenConnectionFlags>): ConnectionFlags {
  return {
    queen: flags.queen,
    context: flags.context,
    ca: flags["queen-ca"],
    cert: flags["queen-cert"],
    key: flags["queen-key"],
    "token-file": flags["queen-token-file"],
    token: process.env.APIARY_TOKEN,
  };
}
