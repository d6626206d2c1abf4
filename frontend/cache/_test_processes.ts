// Test helpers that start real processes (redis-server, the catalog) on free ports and make
// sure each is killed by its PID, even when a test fails or the test process exits early.

import { type ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, startService } from "../../lib/service_process.ts";
export { freePort };

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
/** How long a started process may take to say it is ready. */
export const processStartTimeoutMs = 20_000;

const started = new Set<ChildProcess>();
const tempDirs: string[] = [];
process.on("exit", () => {
  for (const child of started) killChild(child);
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

function killChild(child: ChildProcess): void {
  if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
    try {
      process.kill(child.pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
}


export type Started = {
  readonly child: ChildProcess;
  readonly port: number;
  /** Everything the process wrote so far, stdout and stderr together. */
  output(): string;
  /** SIGKILL by PID and wait for the exit. */
  kill(): Promise<void>;
};

/** Spawn and wait until its output matches `ready`. */
export function startProcess(command: string, args: string[], env: NodeJS.ProcessEnv, ready: RegExp, port: number): Promise<Started> {
  const child = spawn(command, args, { cwd: repoRoot, env, stdio: ["ignore", "pipe", "pipe"] });
  started.add(child);
  let output = "";
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const handle: Started = {
    child,
    port,
    output: () => output,
    async kill() {
      killChild(child);
      await exited;
      started.delete(child);
    },
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(`did not become ready in ${processStartTimeoutMs} ms`), processStartTimeoutMs);
    let settled = false;
    function fail(why: string): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void handle.kill();
      reject(new Error(`${command} ${args.join(" ")} ${why}:\n${output}`));
    }
    function onOutput(chunk: Buffer): void {
      output += chunk.toString();
      if (settled || !ready.test(output)) return;
      settled = true;
      clearTimeout(timer);
      child.stdout?.off("data", onOutput);
      child.stderr?.off("data", onOutput);
      child.stdout?.on("data", (c: Buffer) => { output += c.toString(); });
      child.stderr?.on("data", (c: Buffer) => { output += c.toString(); });
      resolve(handle);
    }
    child.stdout?.on("data", onOutput);
    child.stderr?.on("data", onOutput);
    child.once("exit", (code, signal) => fail(`exited (${code ?? signal}) before it was ready`));
    child.once("error", (err) => fail(`could not start (${err.message})`));
  });
}

/** A throwaway redis-server: no persistence, loopback only. Pass `port` to restart on the same one. */
export async function startRedis(port?: number): Promise<Started> {
  const chosen = port ?? await freePort();
  return startProcess("redis-server", [
    "--port", String(chosen), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
  ], process.env, /Ready to accept connections/, chosen);
}

export const catalogEntry = path.join(repoRoot, "catalog", "main.ts");

/** The real catalog service (lib/service_process.ts); `port` 0 picks a free one. */
export async function startCatalog(dataDir: string, port: number, extraEnv: Record<string, string> = {}): Promise<Started> {
  const service = await startService({
    name: "catalog", entry: "catalog/main.ts", env: { PORT: String(port), DATA_DIR: dataDir, LOG_LEVEL: "info", ...extraEnv },
  });
  started.add(service.child);
  return {
    child: service.child,
    port: service.port,
    output: service.output,
    async kill() {
      service.kill("SIGKILL");
      await service.exited;
      started.delete(service.child);
    },
  };
}

/** A fresh directory, removed when the test process exits. */
export function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}
