// One client session of the latency benchmark: node:http over ONE keep-alive connection, one
// request at a time, each timed from the call to the last byte of the answer. It is also the
// client side of the floor's bare node:http round trip, so the measured latencies and the
// floor they are divided by pay the same client cost. Returns the Server-Timing header too.

import * as http from "node:http";

/** A request slower than this fails the session: on an idle local system it is a fault. */
export const sessionRequestTimeoutMs = 10_000;

export type Answer = {
  readonly status: number;
  readonly text: string;
  /** From the call to the response's last byte (the body is not parsed in this time). */
  readonly ms: number;
  readonly serverTiming: string | undefined;
};

export class KeepAliveClient {
  private readonly host: string;
  private readonly port: number;
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

  constructor(host: string, port: number) {
    this.host = host;
    this.port = port;
  }

  request(method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const started = performance.now();
      const req = http.request({
        host: this.host,
        port: this.port,
        method,
        path,
        agent: this.agent,
        timeout: sessionRequestTimeoutMs,
        headers: body === undefined
          ? headers
          : { ...headers, "content-type": "application/json", "content-length": String(Buffer.byteLength(body)) },
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const ms = performance.now() - started;
          const timing = res.headers["server-timing"];
          resolve({
            status: res.statusCode ?? 0,
            text: Buffer.concat(chunks).toString("utf8"),
            ms,
            serverTiming: Array.isArray(timing) ? timing.join(", ") : timing,
          });
        });
        res.on("error", reject);
      });
      req.on("timeout", () => req.destroy(new Error(`${method} ${path}: no answer within ${sessionRequestTimeoutMs} ms`)));
      req.on("error", reject);
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
