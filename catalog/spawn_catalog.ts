// Starting a real catalog process (`node --import tsx catalog/main.ts`) for tests and
// benchmarks: wait for its `listening ... port=<n>` line, hand out gRPC clients, and kill
// every process started here by its PID, also when a test fails halfway.

import type { ChildProcess } from "node:child_process";
import { spawn } from "node:child_process";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { CatalogClient } from "../gen/catalog.ts";
import { channelOptions, grpc } from "../lib/grpc.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const mainFile = path.join(root, "catalog", "main.ts");

/** How long a starting catalog may take to print its listening line. */
export const catalogStartTimeoutMs = 20_000;

export type Exit = { readonly code: number | null; readonly signal: NodeJS.Signals | null };

export type CatalogProcess = {
  readonly pid: number;
  readonly port: number;
  readonly address: string;
  readonly exited: Promise<Exit>;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  kill(signal: NodeJS.Signals): void;
  client(): CatalogClient;
};

const running = new Set<ChildProcess>();

function start(env: Record<string, string>): { child: ChildProcess; output: () => string; exited: Promise<Exit> } {
  const child = spawn(process.execPath, ["--import", "tsx", mainFile], {
    cwd: root,
    env: { ...process.env, HOST: "127.0.0.1", PORT: "0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.add(child);
  let text = "";
  child.stdout?.on("data", (d: Buffer) => { text += d.toString(); });
  child.stderr?.on("data", (d: Buffer) => { text += d.toString(); });
  const exited = new Promise<Exit>((resolve) => {
    child.on("exit", (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    });
  });
  return { child, output: () => text, exited };
}

function listeningPort(text: string): number | undefined {
  for (const line of text.split("\n")) {
    const match = /\bport=(\d+)\b/.exec(line);
    if (line.includes("listening") && match) return Number(match[1]);
  }
  return undefined;
}

/** Start a catalog (PORT=0 unless given) and wait until it listens. */
export async function spawnCatalog(env: Record<string, string>): Promise<CatalogProcess> {
  const { child, output, exited } = start(env);
  const started = Date.now();
  let exit: Exit | undefined;
  void exited.then((e) => { exit = e; });
  let port = listeningPort(output());
  while (port === undefined) {
    if (exit !== undefined) throw new Error(`catalog exited (${exit.code ?? exit.signal}) before listening:\n${output()}`);
    if (Date.now() - started > catalogStartTimeoutMs) {
      child.kill("SIGKILL");
      throw new Error(`catalog did not listen within ${catalogStartTimeoutMs} ms:\n${output()}`);
    }
    await new Promise((r) => setTimeout(r, 20));
    port = listeningPort(output());
  }
  const address = `127.0.0.1:${port}`;
  return {
    pid: child.pid as number,
    port,
    address,
    exited,
    output,
    kill: (signal) => { child.kill(signal); },
    client: () => new CatalogClient(address, grpc.credentials.createInsecure(), channelOptions),
  };
}

/** Run a catalog that is expected to stop by itself (bad configuration, corrupt files). */
export async function runCatalogToExit(env: Record<string, string>, timeoutMs: number): Promise<Exit & { output: string }> {
  const { child, output, exited } = start(env);
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const exit = await exited;
  clearTimeout(timer);
  return { ...exit, output: output() };
}

/** SIGKILL every catalog started here that is still running, by PID. */
export function killAllCatalogs(): void {
  for (const child of running) {
    if (child.pid !== undefined) {
      try {
        process.kill(child.pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
  }
}
