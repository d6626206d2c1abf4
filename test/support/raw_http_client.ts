// A raw TCP client for the server tests: it writes exactly the bytes a test gives it and reads
// HTTP/1.1 responses (Content-Length framed, 1xx included) off the stream, so tests control and
// see every byte on the wire. Test support only.

import { Buffer } from "node:buffer";
import * as net from "node:net";

export type Reply = { status: number; headers: Record<string, string>; body: string };

/** A TCP client that reads HTTP/1.1 responses (Content-Length framed) off the raw stream. */
export class RawClient {
  private readonly socket: net.Socket;
  private buffer = Buffer.alloc(0);
  private notify: (() => void) | undefined;
  closed = false;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on("data", (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.notify?.();
    });
    socket.on("close", () => {
      this.closed = true;
      this.notify?.();
    });
    socket.on("error", () => {/* the server may reset a refused connection */});
  }

  static connect(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, "127.0.0.1", () => resolve(new RawClient(socket)));
      socket.once("error", reject);
    });
  }

  send(data: string | Buffer): void {
    this.socket.write(data);
  }

  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  private async until<T>(ready: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = ready();
      if (value !== undefined) return value;
      if (this.closed) throw new Error(`connection closed while waiting for ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.notify = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** The next complete response, 1xx included; a response to HEAD has no body to read. */
  read(timeoutMs = 2_000, toHead = false): Promise<Reply> {
    return this.until(() => this.take(toHead), timeoutMs, "a response");
  }

  /** Bytes received and not yet read as a response. */
  unread(): number {
    return this.buffer.length;
  }

  private take(toHead: boolean): Reply | undefined {
    const end = this.buffer.indexOf("\r\n\r\n");
    if (end === -1) return undefined;
    const lines = this.buffer.subarray(0, end).toString("latin1").split("\r\n");
    const status = Number((lines[0] as string).split(" ")[1]);
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(":");
      headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = toHead ? 0 : Number(headers["content-length"] ?? 0);
    if (this.buffer.length < end + 4 + length) return undefined;
    const body = this.buffer.subarray(end + 4, end + 4 + length).toString("utf8");
    this.buffer = this.buffer.subarray(end + 4 + length);
    return { status, headers, body };
  }

  /** Resolves true when the server closed the connection within the time. */
  async waitClosed(timeoutMs = 2_000): Promise<boolean> {
    try {
      await this.until(() => (this.closed ? true : undefined), timeoutMs, "close");
      return true;
    } catch {
      return this.closed;
    }
  }
}
