// The standard gRPC health service (grpc.health.v1, protos/health.proto) for a server whose
// services are all ready or all not: Check answers from the service's own readiness test, Watch
// sends the status at once and then each change, read by one poll shared by every watcher. It
// does not decide what "ready" means: the catalog and the order replica pass their own test.

import { HealthCheckResponse_ServingStatus as ServingStatus, HealthService } from "../gen/health.ts";
import type { HealthCheckRequest, HealthCheckResponse, HealthServer } from "../gen/health.ts";
import { grpc, statusError } from "./grpc.ts";

export { ServingStatus };

/**
 * How often Watch re-reads readiness while anyone watches. Probes poll with Check every few
 * seconds; half a second tells a load balancer of a failed disk or a lost leadership quickly
 * while costing one cheap read per interval, whatever the number of watchers.
 */
export const healthWatchPollMs = 500;
/**
 * Open Watch streams at most. Watchers are a few load balancers or an operator's grpcurl; the
 * bound keeps a misbehaving client from holding unbounded streams. One more is refused with
 * RESOURCE_EXHAUSTED.
 */
export const healthWatchersMax = 64;
/**
 * Deadline of one readiness read (the catalog's takes its store's read lock). A server that
 * cannot say within it is reported NOT_SERVING rather than leaving the probe to time out.
 */
export const readinessTimeoutMs = 1_000;
/**
 * Bytes a watcher may leave unread before its stream is ended: a status message is a few bytes
 * and one is sent per change, so only a client that stopped reading gets near it.
 */
export const watchBufferedBytesMax = 64 * 1024;

export type GrpcHealthOptions = {
  /** Fully qualified names of the services this server offers; "" (the whole server) is always known. */
  readonly services: readonly string[];
  /** True when the server is ready to serve. A rejection or a throw counts as not ready. */
  readonly ready: () => boolean | Promise<boolean>;
  /** Tests shorten these; production uses the constants above. */
  readonly pollMs?: number;
  readonly watchersMax?: number;
};

type Watcher = {
  readonly call: grpc.ServerWritableStream<HealthCheckRequest, HealthCheckResponse>;
  sent: ServingStatus | undefined;
};

export class GrpcHealth {
  private readonly known: ReadonlySet<string>;
  private readonly ready: () => boolean | Promise<boolean>;
  private readonly pollMs: number;
  private readonly watchersMax: number;
  private readonly watchers = new Set<Watcher>();
  private timer: ReturnType<typeof setInterval> | undefined;
  private polling = false;
  private stopped = false;

  constructor(options: GrpcHealthOptions) {
    for (const name of options.services) {
      if (!/^[A-Za-z_][A-Za-z0-9_.]*$/.test(name)) throw new TypeError(`Cannot serve health: "${name}" is not a gRPC service name`);
    }
    this.known = new Set(["", ...options.services]);
    this.ready = options.ready;
    this.pollMs = options.pollMs ?? healthWatchPollMs;
    this.watchersMax = options.watchersMax ?? healthWatchersMax;
    if (!Number.isSafeInteger(this.pollMs) || this.pollMs <= 0) {
      throw new RangeError("Cannot serve health: pollMs must be a positive integer");
    }
    if (!Number.isSafeInteger(this.watchersMax) || this.watchersMax < 0) {
      throw new RangeError("Cannot serve health: watchersMax must be a non-negative integer");
    }
  }

  /** The grpc-js handlers, for `server.addService(HealthService, health.handlers())`. */
  handlers(): HealthServer {
    return {
      check: (call, callback) => {
        if (!this.known.has(call.request.service)) {
          callback(statusError(grpc.status.NOT_FOUND, `unknown service "${call.request.service}"`));
          return;
        }
        this.status().then((status) => callback(null, { status }));
      },
      watch: (call) => this.watch(call),
    };
  }

  /** Watch streams open now. */
  get watcherCount(): number {
    return this.watchers.size;
  }

  /**
   * At shutdown, before the server drains: every service is NOT_SERVING from now on, every
   * watcher is told so and its stream ends (an open Watch would otherwise hold the drain).
   */
  shutdown(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.stopPolling();
    for (const w of this.watchers) {
      if (w.sent !== ServingStatus.SERVICE_UNKNOWN) w.call.write({ status: ServingStatus.NOT_SERVING });
      w.call.end();
    }
    this.watchers.clear();
  }

  /** SERVING or NOT_SERVING now. Never rejects. */
  private async status(): Promise<ServingStatus> {
    if (this.stopped) return ServingStatus.NOT_SERVING;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), readinessTimeoutMs);
    });
    try {
      const ready = await Promise.race([Promise.resolve().then(this.ready), timedOut]);
      return ready && !this.stopped ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
    } catch {
      return ServingStatus.NOT_SERVING;
    } finally {
      clearTimeout(timer);
    }
  }

  private watch(call: grpc.ServerWritableStream<HealthCheckRequest, HealthCheckResponse>): void {
    if (this.stopped) {
      call.emit("error", statusError(grpc.status.UNAVAILABLE, "shutting down"));
      return;
    }
    if (this.watchers.size >= this.watchersMax) {
      call.emit("error", statusError(grpc.status.RESOURCE_EXHAUSTED, `at most ${this.watchersMax} Watch streams are served at once`));
      return;
    }
    const watcher: Watcher = { call, sent: undefined };
    this.watchers.add(watcher);
    const forget = (): void => {
      this.watchers.delete(watcher);
      if (this.watchers.size === 0) this.stopPolling();
    };
    call.on("cancelled", forget);
    call.on("error", forget);
    call.on("close", forget);
    if (!this.known.has(call.request.service)) {
      // The set of services never changes here, so this stays the answer until the caller leaves.
      this.send(watcher, ServingStatus.SERVICE_UNKNOWN);
      return;
    }
    this.status().then((status) => this.send(watcher, status));
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.poll(), this.pollMs);
      // Watchers alone do not keep a process alive: the service's own server does.
      this.timer.unref?.();
    }
  }

  /** One readiness read for every watcher; a read still running skips this turn. */
  private poll(): void {
    if (this.polling) return;
    this.polling = true;
    this.status().then((status) => {
      this.polling = false;
      for (const w of this.watchers) if (w.sent !== ServingStatus.SERVICE_UNKNOWN) this.send(w, status);
    });
  }

  private send(w: Watcher, status: ServingStatus): void {
    if (!this.watchers.has(w) || w.sent === status) return;
    if (w.call.writableLength > watchBufferedBytesMax) {
      this.watchers.delete(w);
      w.call.emit("error", statusError(grpc.status.RESOURCE_EXHAUSTED, "the watcher stopped reading"));
      return;
    }
    w.sent = status;
    w.call.write({ status });
  }

  private stopPolling(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }
}

/** Register the health service on `server` (the service's own port). */
export function addHealthService(server: grpc.Server, health: GrpcHealth): void {
  server.addService(HealthService, health.handlers());
}
