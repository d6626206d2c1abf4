// What every benchmark result records about where and how it was measured (STYLE point 12):
// the runtime, the machine (CPU model, cores, memory, load average at the start), the file
// system the services' data lived on, and the commit of the code measured. Read-only probes.

import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { projectRoot } from "../../lib/service_process.ts";

/** A probe (git) that takes longer than this is skipped: the result just says "unknown". */
const probeTimeoutMs = 3_000;

export type Machine = {
  readonly cpuModel: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly platform: string;
  /** 1, 5 and 15 minute load averages when the measurement started. */
  readonly loadAverageStart: readonly [number, number, number];
  /** File system type of the directory the services wrote to (fsync cost depends on it). */
  readonly dataFileSystem: string;
};

export type Meta = {
  readonly runtime: string;
  readonly machine: Machine;
  readonly commit: string;
  readonly startedAt: string;
  /** Set when the experiment ends: with the start value, how busy the machine was meanwhile. */
  readonly loadAverageEnd?: readonly [number, number, number];
};

export function loadAverage(): [number, number, number] {
  const load = os.loadavg().map((x) => Math.round(x * 100) / 100);
  return [load[0] ?? 0, load[1] ?? 0, load[2] ?? 0];
}

export function machine(dataDir: string = os.tmpdir()): Machine {
  return {
    cpuModel: os.cpus()[0]?.model.trim() ?? "unknown",
    cores: os.availableParallelism(),
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    loadAverageStart: loadAverage(),
    dataFileSystem: fileSystemOf(dataDir),
  };
}

export function runtime(): string {
  const deno = (globalThis as { Deno?: { version: { deno: string } } }).Deno;
  return deno ? `deno ${deno.version.deno}` : `node ${process.version}`;
}

/** The commit measured, with "+dirty" when the working tree has changes (read-only git calls). */
export function commit(): string {
  const run = (args: string[]): string | undefined => {
    const r = spawnSync("git", args, { cwd: projectRoot, encoding: "utf8", timeout: probeTimeoutMs });
    return r.status === 0 ? r.stdout.trim() : undefined;
  };
  const head = run(["rev-parse", "--short", "HEAD"]);
  if (head === undefined) return "unknown";
  const dirty = run(["status", "--porcelain", "--untracked-files=no"]);
  return dirty ? `${head}+dirty` : head;
}

export function meta(dataDir?: string): Meta {
  return { runtime: runtime(), machine: machine(dataDir), commit: commit(), startedAt: new Date().toISOString() };
}

/** The longest mount point in /proc/mounts that contains `dir` (Linux); "unknown" elsewhere. */
function fileSystemOf(dir: string): string {
  try {
    const real = fs.realpathSync(dir);
    let best = { mount: "", type: "unknown" };
    for (const line of fs.readFileSync("/proc/mounts", "utf8").split("\n")) {
      const [, mount, type] = line.split(" ");
      if (mount === undefined || type === undefined) continue;
      const inside = real === mount || real.startsWith(mount.endsWith(path.sep) ? mount : mount + path.sep);
      if (inside && mount.length > best.mount.length) best = { mount, type };
    }
    return best.type;
  } catch {
    return "unknown";
  }
}
