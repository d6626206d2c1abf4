// The HTTP/1.1 server on node:net: accepts sockets, bounds how many are open, gives each one a
// Connection (connection.ts), drives every connection's timeouts from one sweep timer, and
// closes gracefully. Routing is not here: the handler passed in gets every parsed request.

import * as net from "node:net";
import type { Logger } from "../../lib/log.ts";
import { Connection } from "./connection.ts";
import { generatedRequestId } from "./head.ts";
import type { HttpHandler } from "./connection.ts";
import { busyRetryAfterSeconds, resolveLimits } from "./limits.ts";
import type { HttpLimits } from "./limits.ts";
import { jsonError, serializeResponse } from "./response.ts";

export type { HttpHandler } from "./connection.ts";
export type { HttpLimits } from "./limits.ts";
export type { HttpRequest } from "./parser.ts";
export type { HttpResponse } from "./response.ts";

export type HttpServerOptions = {
  readonly handler: HttpHandler;
  readonly log: Logger;
  readonly limits?: Partial<HttpLimits>;
};

export type HttpServer = {
  /** Bind and listen; resolves with the bound port (pass 0 for any free port). */
  listen(port: number, host: string): Promise<number>;
  /** Stop accepting, answer requests in progress with "connection: close", close idle
   * connections, and destroy what is left after limits.drainTimeoutMs. */
  close(): Promise<void>;
  connectionCount(): number;
  readonly limits: HttpLimits;
};

/** One timer checks every connection's deadlines: cheaper than a timer per connection and
 * request. Timeouts fire up to one sweep late, so the sweep is a quarter of the shortest. */
const sweepIntervalMsMin = 5;
const sweepIntervalMsMax = 1_000;

function sweepIntervalMs(limits: HttpLimits): number {
  const shortest = Math.min(
    limits.headersTimeoutMs,
    limits.bodyTimeoutMs,
    limits.idleTimeoutMs,
    limits.handlerTimeoutMs,
    limits.writeTimeoutMs,
  );
  return Math.min(sweepIntervalMsMax, Math.max(sweepIntervalMsMin, Math.floor(shortest / 4)));
}

export function createHttpServer(options: HttpServerOptions): HttpServer {
  if (typeof options.handler !== "function") throw new TypeError("Cannot create HTTP server: handler must be a function");
  if (typeof options.log?.info !== "function") throw new TypeError("Cannot create HTTP server: log must be a Logger");
  return new NetHttpServer(options.handler, options.log, resolveLimits(options.limits));
}

/** The server behind createHttpServer: its listener, its open connections, and their shutdown. */
class NetHttpServer implements HttpServer {
  readonly limits: HttpLimits;
  private readonly handler: HttpHandler;
  private readonly log: Logger;
  private readonly connections = new Set<Connection>();
  private readonly server = net.createServer({ allowHalfOpen: true, noDelay: true });
  private sweep: ReturnType<typeof setInterval> | undefined;
  private closing: Promise<void> | undefined;
  private atCapacity = false;
  /** Set by close(): resolves it once the listener is closed and the last connection is gone. */
  private closed: (() => void) | undefined;
  private listenerClosed = false;

  constructor(handler: HttpHandler, log: Logger, limits: HttpLimits) {
    this.handler = handler;
    this.log = log;
    this.limits = limits;
    this.server.on("connection", (socket: net.Socket) => this.accept(socket));
  }

  connectionCount(): number {
    return this.connections.size;
  }

  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen({ port, host }, () => {
        this.server.off("error", reject);
        // Errors after listening (an accept failing with EMFILE) are logged, not fatal.
        this.server.on("error", (err) => this.log.error("http server error", { error: err.message }));
        this.sweep = setInterval(() => this.sweepAll(), sweepIntervalMs(this.limits));
        this.sweep.unref();
        const address = this.server.address() as net.AddressInfo;
        this.log.info("http listening", { host, port: address.port });
        resolve(address.port);
      });
    });
  }

  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      const drainTimer = setTimeout(() => {
        for (const connection of this.connections) connection.destroy();
      }, this.limits.drainTimeoutMs);
      this.closed = () => {
        clearTimeout(drainTimer);
        if (this.sweep !== undefined) clearInterval(this.sweep);
        resolve();
      };
      // The listener reports closed when its sockets are; our connections may hear a tick later.
      this.server.close(() => {
        this.listenerClosed = true;
        this.resolveIfClosed();
      });
      for (const connection of this.connections) connection.shutdown();
    });
    return this.closing;
  }

  private accept(socket: net.Socket): void {
    if (this.connections.size >= this.limits.connectionsMax) {
      if (!this.atCapacity) {
        this.log.warn("http connection limit reached, refusing new connections", { connectionsMax: this.limits.connectionsMax });
      }
      this.atCapacity = true;
      refuse(socket, this.limits.lingerMs);
      return;
    }
    const onClose = (connection: Connection): void => this.forget(connection);
    const connection = new Connection(socket, { handler: this.handler, limits: this.limits, log: this.log, onClose });
    this.connections.add(connection);
    if (this.closing !== undefined) connection.shutdown();
  }

  private forget(connection: Connection): void {
    this.connections.delete(connection);
    this.resolveIfClosed();
    if (this.atCapacity && this.connections.size < this.limits.connectionsMax) {
      this.atCapacity = false;
      this.log.info("http connections below the limit again", { connections: this.connections.size });
    }
  }

  private resolveIfClosed(): void {
    if (this.listenerClosed && this.connections.size === 0) this.closed?.();
  }

  private sweepAll(): void {
    const now = Date.now();
    for (const connection of this.connections) connection.checkTimeouts(now);
  }
}

/** Over the connection limit: a 503 the client can read, then close, without a Connection. */
function refuse(socket: net.Socket, lingerMs: number): void {
  socket.on("error", () => {/* the client went away first: nothing to do */});
  const response = jsonError(503, "too many connections", { "retry-after": String(busyRetryAfterSeconds) });
  socket.end(serializeResponse(response, { close: true, headOnly: false, announceKeepAlive: false }, generatedRequestId()));
  socket.resume(); // discard the request so closing does not reset the connection
  setTimeout(() => socket.destroy(), lingerMs).unref();
}
