// Starting a real catalog process for tests and benchmarks (through lib/service_process.ts,
// like every other service start), handing out gRPC clients, and killing every process started
// here by its PID, also when a test fails halfway; plus running one that should stop by itself.

import type { ChildProcess } from "node:child_process";
import { spawn } from "node:child_process";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { CatalogClient } from "../gen/catalog.ts";
import { channelOptions, grpc } from "../lib/grpc.ts";
import { startService } from "../lib/service_process.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const mainFile = path.join(root, "catalog", "main.ts");

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

/** Start a catalog (PORT=0 unless given) and wait until it listens (lib/service_process.ts). */
export async function spawnCatalog(env: Record<string, string>): Promise<CatalogProcess> {
  const service = await startService({ name: "catalog", entry: "catalog/main.ts", env: { HOST: "127.0.0.1", PORT: "0", ...env } });
  running.add(service.child);
  const exited = service.exited.then((end): Exit => {
    running.delete(service.child);
    return typeof end === "number" ? { code: end, signal: null } : { code: null, signal: end as NodeJS.Signals };
  });
  const address = `127.0.0.1:${service.port}`;
  return {
    pid: service.pid,
    port: service.port,
    address,
    exited,
    output: service.output,
    kill: (signal) => service.kill(signal),
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
