/**
 * apiary/client: a live local cache of the cluster (Informer) for schedulers, and the pieces it is
 * made of that a client may use on its own. See docs/client.md.
 */
export { Informer, type FindFilter, type InformerHandler, type InformerOptions, type Staleness } from "./informer.js";
export type { ChangeType, InformerChange } from "./informer-index.js";
export { CachedHive, CachedWorker } from "./cached-worker.js";
export { PICK_POLICIES, type PickFunction, type PickPolicy, type PickPolicyName } from "./pick-policies.js";
export { queenClients, type QueenClient } from "./queen-clients.js";
export { resumingWatch, type ResumeOptions } from "./resuming-watch.js";
export type { ClientCredentials } from "../rpc/tls/client-credentials.js";
export { MAX_MATCHES } from "../contracts/find-workers-query.js";
export * from "../../gen/apiary/v1/queen_pb.js";
export * from "../../gen/apiary/v1/telemetry_pb.js";
