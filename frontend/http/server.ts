// The HTTP/1.1 server on node:net: accepts sockets, bounds how many are open, gives each one a
// Connection (connection.ts), drives every connection's timeouts from one sweep timer, and
// closes gracefully. Routing is not here: the handler passed in gets every parsed request.

import * as net from "node:net";
import type { Logger } from "../../lib/log.ts";
import { Connection } from "./connection.ts";
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
    limits.headersTimeoutMs, limits.bodyTimeoutMs, limits.idleTimeoutMs, limits.handlerTimeoutMs, limits.writeTimeoutMs,
  );
  return Math.min(sweepIntervalMsMax, Math.max(sweepIntervalMsMin, Math.floor(shortest / 4)));
}

export function createHttpServer(options: HttpServerOptions): HttpServer {
  if (typeof options.handler !== "function") throw new TypeError("Cannot create HTTP server: handler must be a function");
  if (typeof options.log?.info !== "function") throw new TypeError("Cannot create HTTP server: log must be a Logger");
  const limits = resolveLimits(options.limits);
  const { handler, log } = options;
  const connections = new Set<Connection>();
  const server = net.createServer({ allowHalfOpen: true, noDelay: true });
  let sweep: ReturnType<typeof setInterval> | undefined;
  let closing: Promise<void> | undefined;
  let atCapacity = false;

  /** Set by close(): resolves it once the listener is closed and the last connection is gone. */
  let closed: (() => void) | undefined;
  let listenerClosed = false;
  const resolveIfClosed = (): void => {
    if (listenerClosed && connections.size === 0) closed?.();
  };

  const onClose = (connection: Connection): void => {
    connections.delete(connection);
    resolveIfClosed();
    if (atCapacity && connections.size < limits.connectionsMax) {
      atCapacity = false;
      log.info("http connections below the limit again", { connections: connections.size });
    }
  };

  server.on("connection", (socket: net.Socket) => {
    if (connections.size >= limits.connectionsMax) {
      if (!atCapacity) log.warn("http connection limit reached, refusing new connections", { connectionsMax: limits.connectionsMax });
      atCapacity = true;
      refuse(socket, limits.lingerMs);
      return;
    }
    const connection = new Connection(socket, { handler, limits, log, onClose });
    connections.add(connection);
    if (closing !== undefined) connection.shutdown();
  });

  const sweepAll = (): void => {
    const now = Date.now();
    for (const connection of connections) connection.checkTimeouts(now);
  };

  return {
    limits,
    connectionCount: () => connections.size,
    listen(port: number, host: string): Promise<number> {
      return new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen({ port, host }, () => {
          server.off("error", reject);
          // Errors after listening (an accept failing with EMFILE) are logged, not fatal.
          server.on("error", (err) => log.error("http server error", { error: err.message }));
          sweep = setInterval(sweepAll, sweepIntervalMs(limits));
          sweep.unref();
          const address = server.address() as net.AddressInfo;
          log.info("http listening", { host, port: address.port });
          resolve(address.port);
        });
      });
    },
    close(): Promise<void> {
      closing ??= new Promise<void>((resolve) => {
        const drainTimer = setTimeout(() => {
          for (const connection of connections) connection.destroy();
        }, limits.drainTimeoutMs);
        closed = () => {
          clearTimeout(drainTimer);
          if (sweep !== undefined) clearInterval(sweep);
          resolve();
        };
        // The listener reports closed when its sockets are; our connections may hear a tick later.
        server.close(() => {
          listenerClosed = true;
          resolveIfClosed();
        });
        for (const connection of connections) connection.shutdown();
      });
      return closing;
    },
  };
}

/** Over the connection limit: a 503 the client can read, then close, without a Connection. */
function refuse(socket: net.Socket, lingerMs: number): void {
  socket.on("error", () => { /* the client went away first: nothing to do */ });
  const response = jsonError(503, "too many connections", { "retry-after": String(busyRetryAfterSeconds) });
  socket.end(serializeResponse(response, { close: true, headOnly: false, announceKeepAlive: false }));
  socket.resume(); // discard the request so closing does not reset the connection
  setTimeout(() => socket.destroy(), lingerMs).unref();
}
