import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import {
  Health,
  HealthCheckResponseSchema,
  HealthCheckResponse_ServingStatus as ServingStatus,
  HealthListResponseSchema,
  type HealthCheckRequest,
  type HealthCheckResponse,
} from "../../gen/grpc/health/v1/health_pb.js";
import { untilAborted } from "../common/wait.js";

export { ServingStatus };

/** The service name that stands for the whole server in grpc.health.v1. */
export const OVERALL = "";

/**
 * Serving status per service, as grpc.health.v1 reports it. After shutdown() every
 * status is NOT_SERVING and stays so; Watch streams then end with UNAVAILABLE.
 */
export class HealthStatus {
  private readonly statuses = new Map<string, ServingStatus>([[OVERALL, ServingStatus.SERVING]]);
  private wake: () => void = () => {};
  private changed: Promise<void> = this.nextChange();
  private closed = false;
  private stalled = false;

  /** Sets one service's status ("" = the whole server). Ignored once shut down. */
  setStatus(service: string, status: ServingStatus): void {
    if (this.closed || this.statuses.get(service) === status) return;
    this.statuses.set(service, status);
    this.notify();
  }

  /** Sets every known service and the overall status. Ignored once shut down. */
  setAll(status: ServingStatus): void {
    if (this.closed) return;
    for (const service of this.statuses.keys()) this.statuses.set(service, status);
    this.notify();
  }

  /** The status of a service, or undefined if it is not known. NOT_SERVING for all while the event loop is stalled. */
  get(service: string): ServingStatus | undefined {
    const status = this.statuses.get(service);
    return status !== undefined && this.stalled ? ServingStatus.NOT_SERVING : status;
  }

  /** The event loop stalled (true) or turns again (false): see startLoopWatchdog. */
  setStalled(stalled: boolean): void {
    if (this.stalled === stalled) return;
    this.stalled = stalled;
    this.notify();
  }

  /** Every known service with its status. */
  entries(): [string, ServingStatus][] {
    return [...this.statuses.keys()].map((service) => [service, this.get(service)!]);
  }

  get isShutDown(): boolean {
    return this.closed;
  }

  /** Marks everything NOT_SERVING for good and tells watchers to finish. Idempotent. */
  shutdown(): void {
    if (this.closed) return;
    this.setAll(ServingStatus.NOT_SERVING);
    this.closed = true;
    this.notify();
  }

  /** Resolves at the next change (taken before reading state, so no change is missed). */
  nextChangePromise(): Promise<void> {
    return this.changed;
  }

  private nextChange(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.wake = resolve;
    });
  }

  private notify(): void {
    const wake = this.wake;
    this.changed = this.nextChange();
    wake();
  }
}

function response(status: ServingStatus): HealthCheckResponse {
  return create(HealthCheckResponseSchema, { status });
}

async function* watch(
  registry: HealthStatus,
  request: HealthCheckRequest,
  ctx: HandlerContext,
): AsyncGenerator<HealthCheckResponse> {
  const aborted = untilAborted(ctx.signal);
  let last: ServingStatus | undefined;
  for (;;) {
    const changed = registry.nextChangePromise();
    const current = registry.get(request.service) ?? ServingStatus.SERVICE_UNKNOWN;
    // Intermediate states may coalesce: a watcher always sees the latest one.
    if (current !== last) {
      last = current;
      yield response(current);
    }
    if (registry.isShutDown) throw new ConnectError("server is shutting down", Code.Unavailable);
    await Promise.race([changed, aborted]);
    if (ctx.signal.aborted && !registry.isShutDown) return;
  }
}

/** grpc.health.v1.Health backed by a HealthStatus registry. */
export function createHealthService(registry: HealthStatus): ServiceImpl<typeof Health> {
  return {
    check(request) {
      const status = registry.get(request.service);
      if (status === undefined) {
        throw new ConnectError(`service: unknown service "${request.service}"`, Code.NotFound);
      }
      return response(status);
    },
    list() {
      const statuses: Record<string, HealthCheckResponse> = {};
      for (const [service, status] of registry.entries()) statuses[service] = response(status);
      return create(HealthListResponseSchema, { statuses });
    },
    watch: (request, ctx) => watch(registry, request, ctx),
  };
}
