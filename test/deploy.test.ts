// deno-lint-ignore-file no-explicit-any no-control-regex -- parsed YAML documents are untyped; \u0000 marks a glob segment
// The deployment files held to the code and to the hardening they promise: compose.yaml, the
// Dockerfile and deploy/k8s/ are parsed, and every service's command, environment, ports,
// probes, limits and security settings are checked against what the services' own
// configuration loaders and the image's entry point accept. There is no container engine or
// cluster here, so nothing is started from these files (`docker compose config` and
// `kubectl kustomize` run when those clients exist); the image's commands and the frontend's
// health check command run as local processes in the last tests.

import { spawnSync } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import * as YAML from "yaml";
import { readCatalogConfig } from "../catalog/config.ts";
import { readCacheConfig } from "../frontend/cache/cache_config.ts";
import { loadFrontendConfig } from "../frontend/config.ts";
import type { Env } from "../lib/config.ts";
import { HealthClient } from "../gen/health.ts";
import type { HealthCheckRequest, HealthCheckResponse } from "../gen/health.ts";
import { callUnary, channelOptions, grpc } from "../lib/grpc.ts";
import { ServingStatus } from "../lib/grpc_health.ts";
import { listeningPort, Logger } from "../lib/log.ts";
import { freePort, projectRoot } from "../lib/service_process.ts";
import { readOrderConfig } from "../order/config.ts";
import { containerCommands, isContainerCommand } from "../scripts/entrypoint.ts";
import { requestJson } from "./support/http.ts";
import { runTracked, tempDir } from "./support/processes.ts";
import { waitFor } from "./support/wait.ts";
import { sleep } from "../lib/sleep.ts";

type Kind = "catalog" | "order" | "frontend";
type Loaded = { kind: Kind; port: number; dataDir?: string; metricsPort?: number; config: any };

const root = (file: string): string => path.join(projectRoot, file);
const read = (file: string): string => fs.readFileSync(root(file), "utf8");
const appServices = ["catalog", "order-1", "order-2", "order-3", "frontend"];
/** Where the Dockerfile puts the grpc.health.v1 client the compose health checks run. */
const grpcProbeBinary = "/usr/local/bin/grpc_health_probe";
/** The Node major the image runs: the active LTS line (Node 20 reached end of life on 2026-04-30). */
const nodeMajorImage = 24;

/**
 * Load `env` through the configuration loaders of `kind`, recording which variables they read:
 * a variable that no loader reads is a typo or a setting the service ignores, and fails.
 * DATA_DIR is pointed at a scratch folder (the container path does not exist here).
 */
function loadService(kind: Kind, env: Env, where: string): Loaded {
  const readVars = new Set<string>(["LOG_LEVEL"]);
  const scratch = tempDir("deploy");
  const recording = new Proxy({ ...env, ...(env["DATA_DIR"] ? { DATA_DIR: scratch } : {}) }, {
    get(target, name) {
      if (typeof name === "string") readVars.add(name);
      return Reflect.get(target, name);
    },
  }) as Env;
  let loaded: Loaded | undefined;
  try {
    if (kind === "catalog") {
      const c = readCatalogConfig(recording);
      loaded = { kind, port: c.port, config: c };
    } else if (kind === "order") {
      const c = readOrderConfig(recording);
      loaded = { kind, port: c.port, config: c };
    } else {
      const c = loadFrontendConfig(recording);
      loaded = { kind, port: c.port, config: { ...c, cache: readCacheConfig(recording) } };
    }
    // Every service's Logger reads LOG_LEVEL from the process environment.
    const saved = process.env["LOG_LEVEL"];
    process.env["LOG_LEVEL"] = env["LOG_LEVEL"] ?? "";
    try {
      new Logger(kind);
    } finally {
      if (saved === undefined) delete process.env["LOG_LEVEL"];
      else process.env["LOG_LEVEL"] = saved;
    }
  } catch (err) {
    assert.unreachable(`${where}: the ${kind} configuration loader rejects its environment: ${String(err)}`);
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
  for (const name of Object.keys(env)) assert.ok(readVars.has(name), `${where}: ${name} is set but the ${kind} service never reads it`);
  const result = loaded as Loaded;
  // METRICS_PORT is read by the catalog's and the order service's loaders (the frontend serves
  // /metrics on its HTTP port, so there it is caught above as never read).
  const metricsPort: number | undefined = result.config.metricsPort;
  assert.ok(
    metricsPort === undefined || (metricsPort >= 1 && metricsPort <= 65535 && metricsPort !== result.port),
    `${where}: METRICS_PORT ${metricsPort} is a port other than the service's port ${result.port}`,
  );
  return {
    ...result,
    ...(env["DATA_DIR"] ? { dataDir: env["DATA_DIR"] } : {}),
    ...(metricsPort === undefined ? {} : { metricsPort }),
  };
}

/** The kind of service a container command runs, after checking the image accepts it. */
function kindOf(args: unknown, where: string): Kind {
  assert.ok(Array.isArray(args) && args.length === 1, `${where}: the command is one image command (got ${JSON.stringify(args)})`);
  const name = String((args as unknown[])[0]);
  assert.ok(isContainerCommand(name) && name !== "client", `${where}: "${name}" is not a service command of scripts/entrypoint.ts`);
  return name as Kind;
}

/** A probe or hook command never starts Node: each would cost a runtime start every few seconds. */
function assertNoNode(command: unknown, where: string): void {
  const words = (Array.isArray(command) ? command : [command]).map(String);
  assert.not.ok(
    words.some((w) => /(^|[\s/;&|(])node(js)?($|\s)/.test(w) || /\bnpx\b|\btsx\b/.test(w)),
    `${where}: ${JSON.stringify(command)} starts Node`,
  );
}

/** Computed on first use, inside a test, so a broken file fails that test instead of the whole file. */
function memo<T>(make: () => T): () => T {
  let value: { v: T } | undefined;
  return () => (value ??= { v: make() }).v;
}

const seconds = (text: unknown): number => {
  const match = /^(\d+)s$/.exec(String(text));
  assert.ok(match, `duration "${String(text)}" in seconds`);
  return Number((match as RegExpExecArray)[1]);
};

/** A third-party image reference pinned to a release (a full x.y.z version tag) and to its bytes (a digest). */
function assertPinnedImage(image: string, where: string): void {
  assert.match(
    image,
    /^[\w.\-/]+:v?\d+\.\d+\.\d+[\w.\-]*@sha256:[0-9a-f]{64}$/,
    `${where}: image "${image}" is pinned to a release and a digest`,
  );
}

// ---- compose.yaml

const composeFile = memo(() => YAML.parse(read("compose.yaml"), { merge: true }));
const envOf = (service: any): Env => Object.fromEntries(Object.entries(service.environment ?? {}).map(([k, v]) => [k, String(v)]));
const composeLoaded = memo(() => {
  const loaded = new Map<string, Loaded>();
  const services = composeFile().services;
  for (const name of appServices) {
    if (services[name]) {
      loaded.set(name, loadService(kindOf(services[name].command, `compose ${name}`), envOf(services[name]), `compose ${name}`));
    }
  }
  return loaded;
});
const composeLoad = (name: string): Loaded => {
  const loaded = composeLoaded().get(name);
  assert.ok(loaded, `compose.yaml has service ${name} with a service command`);
  return loaded as Loaded;
};
/** Compose interpolates `$` in every string; `$$` is a literal `$`. */
const composeUnescape = (text: string): string => text.replace(/\$\$/g, "$");

test("compose.yaml: catalog, three replicas, frontend and redis; only the frontend publishes a port; restart policies", () => {
  const compose = composeFile();
  const services: Record<string, any> = compose.services;
  for (const name of [...appServices, "redis"]) assert.ok(services[name], `service ${name}`);
  for (const [name, service] of Object.entries(services)) {
    if (name === "frontend") continue;
    assert.is(service.ports, undefined, `${name} publishes no port`);
  }
  const frontend = composeLoad("frontend");
  assert.equal(services["frontend"].ports, [`${frontend.port}:${frontend.port}`], "frontend publishes the port it binds");
  for (const name of [...appServices, "redis"]) {
    assert.match(String(services[name].restart), /^(always|unless-stopped|on-failure)/, `${name} restart policy`);
  }
  for (const name of appServices) {
    assert.is(services[name].build, ".", `${name} is built from the Dockerfile`);
    assert.is(envOf(services[name])["HOST"], "0.0.0.0", `${name} binds every interface in its container (README: Configuration)`);
  }
});

test("compose.yaml: every service is hardened: read-only root, no capabilities, no privilege gain, CPU and memory limits, rotated logs", () => {
  const services: Record<string, any> = composeFile().services;
  for (const [name, s] of Object.entries(services)) {
    assert.is(s.read_only, true, `${name}: read-only root filesystem`);
    assert.equal(s.cap_drop, ["ALL"], `${name}: every capability dropped`);
    assert.ok((s.security_opt ?? []).includes("no-new-privileges:true"), `${name}: no-new-privileges`);
    const limits = s.deploy?.resources?.limits ?? {};
    assert.ok(Number(limits.cpus) > 0, `${name}: a CPU limit`);
    assert.match(String(limits.memory), /^\d+[MG]$/, `${name}: a memory limit`);
    assert.is(s.logging?.driver, "json-file", `${name}: json-file logs`);
    assert.match(String(s.logging?.options?.["max-size"]), /^\d+[km]$/, `${name}: logs rotated by size`);
    assert.ok(Number(s.logging?.options?.["max-file"]) >= 1, `${name}: a bounded number of rotated files`);
    if (s.build === ".") {
      // tsx writes its compile cache under the temp folder: the one writable place besides /data.
      assert.ok((s.tmpfs ?? []).some((t: string) => /^\/tmp(:|$)/.test(t)), `${name}: a tmpfs at /tmp`);
      assert.is(s.image, "stock-bazaar:latest", `${name}: the image built here`);
    } else {
      assertPinnedImage(String(s.image), `compose ${name}`);
    }
  }
  // Run as root, the Redis image's entry point chowns and switches users: capabilities dropped above.
  assert.match(String(services["redis"].user), /^[1-9]\d*(:\d+)?$/, "redis starts as its unprivileged user");
});

test("compose.yaml: addresses name the services, with the ports those services bind", () => {
  const compose = composeFile();
  const services: Record<string, any> = compose.services;
  const catalog = composeLoad("catalog");
  const frontend = composeLoad("frontend");
  for (const name of ["order-1", "order-2", "order-3", "frontend"]) {
    const loaded = composeLoad(name);
    assert.equal([loaded.config.catalogAddr.host, loaded.config.catalogAddr.port], ["catalog", catalog.port], `${name} CATALOG_ADDR`);
    const replicas = loaded.config.replicas as { id: number; addr: { host: string; port: number } }[];
    assert.equal(replicas.map((r) => r.id).sort(), [1, 2, 3], `${name} ORDER_REPLICAS ids`);
    for (const r of replicas) {
      const replica = composeLoad(r.addr.host);
      assert.is(replica.config.id, r.id, `${name}: ${r.addr.host} runs replica ${r.id}`);
      assert.is(replica.port, r.addr.port, `${name}: replica ${r.id} binds ${r.addr.port}`);
    }
  }
  assert.is(frontend.config.cache.backend, "redis", "the frontend uses the shared redis cache");
  const redis = new URL(frontend.config.cache.redisUrl as string);
  assert.is(redis.hostname, "redis");
  assert.is(redis.port || "6379", "6379");
  assert.not.ok(String(services["redis"].command).includes("--port"), "redis listens on its default port");
  const client = services["client"];
  assert.equal(client.entrypoint.slice(0, 5), ["node", "--import", "tsx", "scripts/entrypoint.ts", "client"]);
  const opts = client.entrypoint.slice(5) as string[];
  assert.is(opts[opts.indexOf("--host") + 1], "frontend");
  assert.is(Number(opts[opts.indexOf("--port") + 1]), frontend.port);
});

test("compose.yaml: health checks without Node: grpc_health_probe on each gRPC service's port, bash's /dev/tcp for the frontend", () => {
  const services: Record<string, any> = composeFile().services;
  for (const [name, s] of Object.entries(services)) if (s.healthcheck) assertNoNode(s.healthcheck.test, `compose ${name} health check`);
  for (const name of appServices) {
    const check = services[name].healthcheck;
    assert.ok(check, `${name} has a health check`);
    assert.is(check.test[0], "CMD", `${name}: exec form`);
    const loaded = composeLoad(name);
    const timeoutS = seconds(check.timeout);
    assert.ok(seconds(check.interval) > 0 && check.retries > 0);
    if (loaded.kind === "frontend") {
      assert.equal(check.test.slice(1, 3), ["bash", "-c"], `${name}: bash, no curl and no Node`);
      const script = composeUnescape(check.test[3]);
      assert.match(script, /\/dev\/tcp\/127\.0\.0\.1\/\$\{PORT\}/, `${name}: connects to the port the frontend binds (its own PORT)`);
      assert.match(script, /GET \/health HTTP\/1\.1/, `${name}: asks GET /health`);
      const readTimeout = /read -r -t (\d+)/.exec(script);
      assert.ok(readTimeout && Number(readTimeout[1]) < timeoutS, `${name}: the read gives up before compose's timeout`);
    } else {
      const [binary, ...flags] = check.test.slice(1) as string[];
      assert.is(binary, grpcProbeBinary, `${name}: the image's grpc_health_probe`);
      assert.ok(flags.includes(`-addr=127.0.0.1:${loaded.port}`), `${name}: probes the port the service binds (${loaded.port})`);
      assert.not.ok(
        flags.some((f) => f.startsWith("-service=") && f !== "-service="),
        `${name}: asks the server's overall health (service "")`,
      );
      const flagSeconds = (flag: string): number => seconds(flags.find((f) => f.startsWith(`${flag}=`))?.split("=")[1]);
      assert.ok(
        flagSeconds("-connect-timeout") + flagSeconds("-rpc-timeout") <= timeoutS,
        `${name}: the probe's deadlines fit compose's timeout`,
      );
    }
  }
  assert.equal(services["redis"].healthcheck.test, ["CMD", "redis-cli", "ping"]);
});

test("compose.yaml: metrics ports set and labelled for Prometheus, distinct per service", () => {
  const services: Record<string, any> = composeFile().services;
  const seen = new Set<number>();
  for (const name of appServices) {
    const loaded = composeLoad(name);
    const port = loaded.kind === "frontend" ? loaded.port : loaded.metricsPort;
    assert.ok(port, `${name}: METRICS_PORT is set`);
    assert.not.ok(seen.has(port as number), `${name}: metrics port ${port} is not another service's`);
    seen.add(port as number);
    const labels = services[name].labels ?? {};
    assert.is(labels["prometheus.io/scrape"], "true", `${name}: scrape label`);
    assert.is(Number(labels["prometheus.io/port"]), port, `${name}: the label names the metrics port`);
    assert.is(labels["prometheus.io/path"], "/metrics", `${name}: metrics path`);
  }
});

test("compose.yaml: a named volume at DATA_DIR for each service with data; the frontend waits for healthy dependencies", () => {
  const compose = composeFile();
  const services: Record<string, any> = compose.services;
  const seen = new Set<string>();
  for (const name of ["catalog", "order-1", "order-2", "order-3"]) {
    const dataDir = composeLoad(name).dataDir;
    assert.ok(dataDir, `${name} sets DATA_DIR`);
    const mounts = (services[name].volumes as string[]).map((v) => v.split(":"));
    const mount = mounts.find((m) => m[1] === dataDir);
    assert.ok(mount, `${name}: a volume is mounted at DATA_DIR ${dataDir}`);
    const volume = (mount as string[])[0] as string;
    assert.ok(Object.hasOwn(compose.volumes ?? {}, volume), `${name}: ${volume} is a named volume`);
    assert.not.ok(seen.has(volume), `${volume} is used by one service only`);
    seen.add(volume);
  }
  const depends = services["frontend"].depends_on;
  for (const name of ["catalog", "order-1", "order-2", "order-3", "redis"]) {
    assert.is(depends[name]?.condition, "service_healthy", `frontend waits for ${name} to be healthy`);
    assert.ok(services[name].healthcheck, `${name} has the health check that condition needs`);
  }
});

function composeClient(): string[] | undefined {
  const ok = (cmd: string, args: string[]): boolean => spawnSync(cmd, args, { stdio: "ignore", timeout: 20_000 }).status === 0;
  if (ok("docker", ["compose", "version"])) return ["docker", "compose"];
  if (ok("docker-compose", ["version"])) return ["docker-compose"];
  return undefined;
}

const composeCli = composeClient();
if (composeCli) {
  test(`compose.yaml: \`${composeCli.join(" ")} config\` accepts it and resolves the same hardening`, () => {
    const [cmd, ...args] = composeCli;
    const result = spawnSync(cmd as string, [...args, "-f", "compose.yaml", "config", "--format", "json"], {
      cwd: projectRoot,
      encoding: "utf8",
      timeout: 60_000,
    });
    assert.is(result.status, 0, result.stderr);
    // The merge keys (<<) resolved by compose itself, not only by the yaml package above.
    const resolved = JSON.parse(result.stdout).services as Record<string, any>;
    for (const [name, s] of Object.entries(resolved)) {
      assert.is(s.read_only, true, `${name}: read_only after compose's own merge`);
      assert.equal(s.cap_drop, ["ALL"], `${name}: cap_drop after compose's own merge`);
    }
  });
} else {
  process.stderr.write("deploy.test.ts: no docker compose client found; `compose config` skipped, structural checks only\n");
  test.skip("compose.yaml: docker compose config (no compose client)");
}

// ---- Dockerfile

/** Relative imports (recursively) and npm packages imported at run time from `entries`. */
function importGraph(entries: readonly string[]): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  // `import x from "y"`, `export { x } from "y"`, `import "y"`, `import("y")`; not type-only imports.
  const pattern = /^(?!\s*(?:import|export)\s+type\b)\s*(?:(?:import|export)\b[^"';]*?\bfrom\s*|import\s*\(?\s*)["']([^"']+)["']/gm;
  const visit = (file: string): void => {
    if (files.has(file)) return;
    files.add(file);
    for (const match of read(file).matchAll(pattern)) {
      const spec = match[1] as string;
      if (spec.startsWith(".")) visit(path.relative(projectRoot, path.resolve(path.dirname(root(file)), spec)));
      else if (!spec.startsWith("node:")) {
        packages.add(spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0] as string);
      }
    }
  };
  for (const entry of entries) visit(entry);
  return { files, packages };
}

/** True when .dockerignore keeps `file` out of the build context. */
function dockerignored(file: string): boolean {
  const patterns = read(".dockerignore").split("\n").map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#"));
  return patterns.some((p) => {
    // `**/` is any number of folders, `*` anything within one name; a match covers what is below it.
    const glob = p.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*\*\//g, "\u0000").replace(/\*/g, "[^/]*").replace(/\u0000/g, "(?:.*/)?");
    const regex = new RegExp(`^${glob}(?:/.*)?$`);
    return regex.test(file);
  });
}

type Stage = { name: string; lines: string[] };

const dockerStages = memo((): Stage[] => {
  const stages: Stage[] = [];
  // Continuation lines joined, comments and blank lines dropped.
  const text = read("Dockerfile").replace(/\\\n/g, " ");
  for (const line of text.split("\n").map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#"))) {
    const from = /^FROM\s+\S+(?:\s+AS\s+(\S+))?/i.exec(line);
    if (from) stages.push({ name: from[1] ?? String(stages.length), lines: [] });
    stages[stages.length - 1]?.lines.push(line);
  }
  return stages;
});

/** True when the stage's COPY lines (from the build context) put `file` at the same relative path. */
function copiedInto(stage: Stage, file: string): boolean {
  const copies = stage.lines.filter((l) => /^COPY\s/i.test(l) && !/--from=/.test(l)).map((l) =>
    l.split(/\s+/).slice(1).filter((w) => !w.startsWith("--"))
  );
  return copies.some((words) => {
    // Destinations are relative to WORKDIR; "./" and "./scripts/" are folders.
    const last = words[words.length - 1] as string;
    const dest = path.posix.normalize(last);
    const into = (src: string): string => last.endsWith("/") ? path.posix.join(dest, path.posix.basename(src)) : dest;
    return words.slice(0, -1).some((src) => (src === file && into(src) === file) || (file.startsWith(`${src}/`) && into(src) === src));
  });
}

/** The ARGs declared before the first FROM, with their defaults: what `FROM ${NAME}` resolves to. */
const dockerArgs = memo((): Map<string, string> => {
  const args = new Map<string, string>();
  for (const line of read("Dockerfile").split("\n").map((l) => l.trim())) {
    if (/^FROM\s/i.test(line)) break;
    const arg = /^ARG\s+(\w+)=(\S+)$/i.exec(line);
    if (arg) args.set(arg[1] as string, arg[2] as string);
  }
  return args;
});

/** The image a stage starts from, with `${ARG}` resolved; a stage name when it builds on another stage. */
function stageBase(stage: Stage): string {
  const from = /^FROM\s+(\S+)/i.exec(stage.lines[0] as string)?.[1] as string;
  return from.replace(/^\$\{(\w+)\}$/, (_, name: string) => {
    const value = dockerArgs().get(name);
    assert.ok(value, `ARG ${name} has a default before the first FROM`);
    return value as string;
  });
}

test("Dockerfile: multi-stage, runtime dependencies only, non-root, one entry point whose argument picks the service", () => {
  const stages = dockerStages();
  assert.ok(stages.length >= 2, "at least a dependency stage and a runtime stage");
  const final = (stages[stages.length - 1] as Stage).lines;
  assert.ok(stages.some((st) => st.lines.some((l) => /npm ci\b.*--omit=dev/.test(l))), "dependencies installed without dev dependencies");
  const user = final.filter((l) => /^USER\s/i.test(l)).pop();
  assert.ok(user && !/^USER\s+(root|0)(:|\s|$)/i.test(user), `the runtime stage runs as a non-root user (${user})`);
  const entry = JSON.parse((final.find((l) => /^ENTRYPOINT\s/i.test(l)) as string).replace(/^ENTRYPOINT\s+/i, ""));
  assert.equal(entry, ["node", "--import", "tsx", "scripts/entrypoint.ts"]);
  const cmd = JSON.parse((final.find((l) => /^CMD\s/i.test(l)) as string).replace(/^CMD\s+/i, ""));
  assert.ok(isContainerCommand(cmd[0]), `default CMD ${cmd[0]} is an image command`);
  assert.ok(final.some((l) => /HOST=0\.0\.0\.0/.test(l)), "containers bind every interface by default (README: Configuration)");
  assert.ok(final.some((l) => /chown\s+node:node\s+\/data/.test(l)), "the data folder belongs to the unprivileged user");
  // Few layers: one RUN in the runtime stage.
  assert.ok(final.filter((l) => /^RUN\s/i.test(l)).length <= 1, "the runtime stage has at most one RUN layer");

  // Every file an image command imports is in the build context and copied to the same place,
  // and every package it imports is a runtime dependency.
  const { files, packages } = importGraph(["scripts/entrypoint.ts", ...Object.values(containerCommands)]);
  for (const file of [...files, "package.json"]) {
    assert.ok(copiedInto(stages[stages.length - 1] as Stage, file), `${file} is copied into the image at the same relative path`);
    assert.not.ok(dockerignored(file), `${file} is not excluded by .dockerignore`);
  }
  const pkg = JSON.parse(read("package.json"));
  for (const name of [...packages, "tsx"]) {
    assert.ok(pkg.dependencies?.[name], `${name} is a runtime dependency (the image omits dev dependencies)`);
  }
});

test("Dockerfile: Node 24 LTS base image and every other image pinned to a release and a digest; npm start still allows Node 20", () => {
  const stageNames = new Set(dockerStages().map((s) => s.name));
  const bases = dockerStages().map(stageBase).filter((b) => !stageNames.has(b));
  assert.ok(bases.length >= 1);
  for (const base of bases) assertPinnedImage(base, "Dockerfile FROM");
  const nodeBases = bases.filter((b) => /^(docker\.io\/library\/)?node:/.test(b));
  assert.ok(nodeBases.length >= 1, "a node base image");
  for (const base of nodeBases) {
    const version = /^(?:docker\.io\/library\/)?node:(\d+)\.(\d+)\.(\d+)-(\w+)-slim@/.exec(base);
    assert.ok(version, `${base}: node:<major>.<minor>.<patch>-<debian>-slim`);
    assert.is(Number(version?.[1]), nodeMajorImage, `${base}: Node ${nodeMajorImage} LTS`);
  }
  // The image's Node satisfies package.json's engines, whose floor stays at 20 for `npm start` elsewhere.
  const engines = String(JSON.parse(read("package.json")).engines?.node);
  const floor = /^>=\s*(\d+)$/.exec(engines);
  assert.ok(
    floor && Number(floor[1]) <= 20 && nodeMajorImage >= Number(floor[1]),
    `engines.node "${engines}" admits Node 20 and ${nodeMajorImage}`,
  );
});

test("Dockerfile: grpc_health_probe comes from a pinned upstream image, into the place compose's health checks run it", () => {
  const final = (dockerStages()[dockerStages().length - 1] as Stage).lines;
  const copy = final.find((l) => /^COPY\s+--from=\S+\s+\S*grpc-health-probe\S*\s+(\S+)$/i.test(l));
  assert.ok(copy, "the runtime stage copies the grpc-health-probe binary from another stage");
  const [, from, , dest] = /^COPY\s+--from=(\S+)\s+(\S+)\s+(\S+)$/i.exec(copy as string) as RegExpExecArray;
  assert.is(dest, grpcProbeBinary);
  const stage = dockerStages().find((s) => s.name === from);
  assert.ok(stage, `stage ${from} exists`);
  assert.match(stageBase(stage as Stage), /^ghcr\.io\/grpc-ecosystem\/grpc-health-probe:v\d+\.\d+\.\d+@sha256:[0-9a-f]{64}$/);
  assert.not.ok(fs.existsSync(root("scripts/healthcheck.ts")), "no Node health probe left behind");
});

// ---- deploy/k8s

const k8sDir = "deploy/k8s";
const kustomizationFile = memo(() => YAML.parse(read(`${k8sDir}/kustomization.yaml`)));
const k8sObjects = memo((): any[] =>
  (kustomizationFile().resources as string[]).flatMap((file) =>
    YAML.parseAllDocuments(read(`${k8sDir}/${file}`)).map((doc) => doc.toJS()).filter((o) => o !== null)
  )
);
const byKind = (kind: string): any[] => k8sObjects().filter((o) => o.kind === kind);
const named = (kind: string, name: string): any => {
  const found = byKind(kind).find((o) => o.metadata.name === name);
  assert.ok(found, `${kind} ${name} exists in ${k8sDir}`);
  return found;
};
const workloads = (): any[] => [...byKind("StatefulSet"), ...byKind("Deployment")];
const selects = (service: any, workload: any): boolean =>
  Object.entries(service.spec.selector ?? {}).every(([k, v]) => workload.spec.template.metadata.labels?.[k] === v);

/** A pod's environment: envFrom ConfigMaps, then env; the pod index comes from the ordinal. */
function podEnv(container: any, ordinal: number | undefined, where: string): Env {
  const env: Record<string, string> = {};
  for (const from of container.envFrom ?? []) Object.assign(env, named("ConfigMap", from.configMapRef.name).data);
  for (const e of container.env ?? []) {
    if (e.value !== undefined) env[e.name] = String(e.value);
    else if (e.valueFrom?.fieldRef?.fieldPath === "metadata.labels['apps.kubernetes.io/pod-index']" && ordinal !== undefined) {
      env[e.name] = String(ordinal);
    } else assert.unreachable(`${where}: ${e.name} comes from ${JSON.stringify(e.valueFrom)}, which this test cannot resolve`);
  }
  return env;
}

/** Every pod each app workload runs, with its loaded configuration. */
type Pod = { workload: any; container: any; pod: string; loaded: Loaded };
const k8sPods = memo((): Pod[] => {
  const pods: Pod[] = [];
  for (const w of workloads()) {
    for (const container of w.spec.template.spec.containers) {
      if (!String(container.image).startsWith("stock-bazaar")) continue;
      const where = `${w.kind} ${w.metadata.name}`;
      assert.is(container.command, undefined, `${where}: keeps the image's entry point`);
      const kind = kindOf(container.args, where);
      const start = w.kind === "StatefulSet" ? (w.spec.ordinals?.start ?? 0) : undefined;
      for (let i = 0; i < (start === undefined ? 1 : w.spec.replicas); i++) {
        const ordinal = start === undefined ? undefined : start + i;
        const pod = ordinal === undefined ? w.metadata.name : `${w.metadata.name}-${ordinal}`;
        pods.push({
          workload: w,
          container,
          pod,
          loaded: loadService(kind, podEnv(container, ordinal, `${where} pod ${pod}`), `${where} pod ${pod}`),
        });
      }
    }
  }
  return pods;
});
const podsOf = (kind: Kind): Pod[] => k8sPods().filter((p) => p.loaded.kind === kind);

/** The Service `host` names (a pod of a StatefulSet via its governing Service, or a Service), checked to reach `port`. */
function checkAddress(host: string, port: number, kind: Kind, where: string): void {
  const labels = host.replace(/\.svc(\.cluster\.local)?$/, "").split(".");
  const pod = labels.length >= 2 ? k8sPods().find((p) => p.pod === labels[0] && p.workload.spec.serviceName === labels[1]) : undefined;
  const service = named("Service", pod ? labels[1] as string : labels[0] as string);
  const targets = k8sPods().filter((p) => p.loaded.kind === kind && selects(service, p.workload) && (!pod || p === pod));
  assert.ok(targets.length > 0, `${where}: ${host} reaches a ${kind} pod`);
  for (const t of targets) {
    assert.is(t.loaded.port, port, `${where}: ${host} is reached on the port ${t.pod} binds`);
    const declared = t.container.ports.find((p: any) => p.containerPort === port);
    assert.ok(declared, `${where}: ${t.pod} declares container port ${port}`);
    assert.ok(
      service.spec.ports.some((sp: any) => sp.port === port && (sp.targetPort === declared.name || sp.targetPort === port)),
      `${where}: Service ${service.metadata.name} exposes ${port}`,
    );
  }
}

test("deploy/k8s: kustomization lists every manifest; each parses into named objects in one namespace", () => {
  const kustomization = kustomizationFile();
  const files = fs.readdirSync(root(k8sDir)).filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml").sort();
  assert.equal([...kustomization.resources].sort(), files);
  assert.is(kustomization.namespace, named("Namespace", kustomization.namespace).metadata.name);
  for (const o of k8sObjects()) assert.ok(o.apiVersion && o.kind && o.metadata?.name, `object ${JSON.stringify(o.metadata)}`);
  assert.ok((kustomization.images as any[]).some((i) => i.name === "stock-bazaar"), "the image can be pointed at a registry");
});

test("deploy/k8s: the catalog and the replicas are StatefulSets with a retained claim mounted at DATA_DIR; the frontends a Deployment of N", () => {
  for (const [name, replicas] of [["catalog", 1], ["order", 3]] as const) {
    const set = named("StatefulSet", name);
    assert.is(set.spec.replicas, replicas, `${name} replicas`);
    assert.is(named("Service", set.spec.serviceName).spec.clusterIP, "None", `${name}: governing Service is headless`);
    const claim = set.spec.volumeClaimTemplates?.[0]?.metadata?.name;
    assert.ok(claim, `${name} has a persistent volume claim template`);
    assert.equal(
      set.spec.persistentVolumeClaimRetentionPolicy,
      { whenDeleted: "Retain", whenScaled: "Retain" },
      `${name}: deleting or scaling the StatefulSet keeps its claims (docs/deploy-k8s.md teardown relies on it)`,
    );
    for (const p of k8sPods().filter((x) => x.workload === set)) {
      const mount = p.container.volumeMounts.find((m: any) => m.name === claim);
      assert.is(mount?.mountPath, p.loaded.dataDir, `${p.pod}: the claim is mounted at DATA_DIR`);
    }
  }
  for (const w of workloads().filter((x) => x.metadata.name !== "redis")) {
    const security = w.spec.template.spec.securityContext ?? {};
    assert.ok(security.runAsNonRoot === true && security.runAsUser === 1000, `${w.metadata.name} runs as the image's unprivileged user`);
    if (w.kind === "StatefulSet") assert.is(security.fsGroup, 1000, `${w.metadata.name}: its volume is writable by that user`);
  }
  const ids = podsOf("order").map((p) => [p.pod, p.loaded.config.id]);
  assert.equal(ids, [["order-1", 1], ["order-2", 2], ["order-3", 3]], "replica id = pod ordinal");
  assert.is(named("Service", "order").spec.publishNotReadyAddresses, true, "recovering replicas reach each other");
  const frontend = named("Deployment", "frontend");
  assert.ok(frontend.spec.replicas >= 2, "several frontends");
});

test("deploy/k8s: every address in the configuration reaches the right pods on the ports they bind", () => {
  const catalogPods = podsOf("catalog");
  for (const p of [...podsOf("order"), ...podsOf("frontend")]) {
    const where = `pod ${p.pod}`;
    checkAddress(p.loaded.config.catalogAddr.host, p.loaded.config.catalogAddr.port, "catalog", `${where} CATALOG_ADDR`);
    const replicas = p.loaded.config.replicas as { id: number; addr: { host: string; port: number } }[];
    assert.equal(
      replicas.map((r) => r.id).sort(),
      podsOf("order").map((o) => o.loaded.config.id).sort(),
      `${where}: ORDER_REPLICAS lists every replica`,
    );
    for (const r of replicas) {
      checkAddress(r.addr.host, r.addr.port, "order", `${where} replica ${r.id}`);
      const target = podsOf("order").find((o) => o.pod === r.addr.host.split(".")[0]);
      assert.is(target?.loaded.config.id, r.id, `${where}: ${r.addr.host} runs replica ${r.id}`);
    }
  }
  assert.is(catalogPods.length, 1);
  for (const p of podsOf("frontend")) {
    assert.is(p.loaded.config.cache.backend, "redis", "frontends share the redis cache");
    const url = new URL(p.loaded.config.cache.redisUrl as string);
    const redis = named("Service", url.hostname);
    assert.ok(redis.spec.ports.some((sp: any) => sp.port === Number(url.port || 6379)), "REDIS_URL port is the redis Service's");
  }
  const exposed = byKind("Service").filter((s) => s.spec.type === "LoadBalancer" || s.spec.type === "NodePort");
  assert.equal(exposed.map((s) => s.metadata.name), ["frontend"], "only the frontend is reachable from outside");
  const front = podsOf("frontend")[0] as Pod;
  const port = named("Service", "frontend").spec.ports[0];
  assert.ok(selects(named("Service", "frontend"), front.workload));
  assert.ok(
    front.container.ports.some((cp: any) => cp.name === port.targetPort && cp.containerPort === front.loaded.port),
    "frontend Service targets the port the frontend binds",
  );
});

/** The container port a probe's or policy's `port` (a number or a port name) means. */
function containerPort(container: any, port: unknown): number | undefined {
  const found = (container.ports ?? []).find((cp: any) => cp.name === port || cp.containerPort === port);
  return found?.containerPort;
}

test("deploy/k8s: native probes: grpc.health.v1 (service \"\") readiness and TCP liveness on the catalog's and replicas' ports, HTTP on the frontend's; none starts Node", () => {
  for (const w of workloads()) {
    for (const c of w.spec.template.spec.containers) {
      for (const probe of ["readinessProbe", "livenessProbe", "startupProbe"]) {
        if (c[probe]?.exec) assertNoNode(c[probe].exec.command, `${w.metadata.name} ${probe}`);
      }
      if (c.lifecycle?.preStop?.exec) assertNoNode(c.lifecycle.preStop.exec.command, `${w.metadata.name} preStop`);
    }
  }
  for (const p of k8sPods()) {
    for (const probe of ["readinessProbe", "livenessProbe", "startupProbe"]) {
      const spec = p.container[probe];
      const where = `${p.pod} ${probe}`;
      if (p.loaded.kind === "frontend") {
        if (probe === "startupProbe") continue;
        assert.ok(spec?.httpGet, `${where} is an httpGet probe`);
        assert.is(containerPort(p.container, spec.httpGet.port), p.loaded.port, `${where}: on the port the frontend binds`);
        // Not /health: its 503 (no ready leader) would take every frontend out of the Service,
        // lookups included (deploy/k8s/frontend.yaml).
        assert.is(spec.httpGet.path, "/metrics", where);
      } else if (probe === "livenessProbe") {
        // Alive but not ready (catching up, campaigning) must not mean restarted: a TCP check.
        assert.ok(spec?.tcpSocket, `${where} is a tcpSocket probe`);
        assert.is(
          containerPort(p.container, spec.tcpSocket.port) ?? spec.tcpSocket.port,
          p.loaded.port,
          `${where}: on the port the service binds`,
        );
      } else {
        assert.ok(spec?.grpc, `${where} is a native grpc probe`);
        assert.is(spec.grpc.port, p.loaded.port, `${where}: on the port the service binds`);
        assert.is(spec.grpc.service ?? "", "", `${where}: the server's overall health`);
        assert.ok((spec.timeoutSeconds ?? 1) < (spec.periodSeconds ?? 10), `${where}: one probe ends before the next starts`);
      }
    }
  }
  const redis = named("Deployment", "redis").spec.template.spec.containers[0];
  assert.equal(redis.readinessProbe.exec.command, ["redis-cli", "ping"]);
});

test("deploy/k8s: the order replicas and the frontends spread over nodes; disruption budgets keep a majority of replicas and all but one frontend", () => {
  for (const name of ["order", "frontend"]) {
    const w = workloads().find((x) => x.metadata.name === name);
    const spread = (w.spec.template.spec.topologySpreadConstraints ?? []) as any[];
    const byNode = spread.find((t) => t.topologyKey === "kubernetes.io/hostname");
    assert.ok(byNode, `${name}: spread over nodes`);
    assert.is(byNode.maxSkew, 1, `${name}: at most one more pod on any node than on another`);
    assert.is(byNode.whenUnsatisfiable, "DoNotSchedule", `${name}: a hard rule, not a preference`);
    assert.ok(labelsMatch(byNode.labelSelector, w.spec.template.metadata.labels), `${name}: the rule counts this workload's own pods`);
  }
  const budgetFor = (name: string): any => {
    const w = workloads().find((x) => x.metadata.name === name);
    const found = byKind("PodDisruptionBudget").filter((b) => labelsMatch(b.spec.selector, w.spec.template.metadata.labels));
    assert.is(found.length, 1, `one PodDisruptionBudget selects ${name}`);
    return found[0];
  };
  const replicas = named("StatefulSet", "order").spec.replicas as number;
  assert.is(budgetFor("order").spec.minAvailable, Math.floor(replicas / 2) + 1, "order: a majority stays up through a drain");
  assert.is(budgetFor("frontend").spec.maxUnavailable, 1, "frontend: one at a time");
});

/** A source of connections: a pod (labels, namespace) or a client outside the cluster. */
type Source = { name: string; namespace?: string; labels?: Record<string, string> };

function labelsMatch(selector: any, labels: Record<string, string> = {}): boolean {
  const plain = Object.entries(selector?.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  const expressions = ((selector?.matchExpressions ?? []) as any[]).every((e) => {
    if (e.operator === "In") return e.values.includes(labels[e.key]);
    if (e.operator === "NotIn") return !e.values.includes(labels[e.key]);
    if (e.operator === "Exists") return labels[e.key] !== undefined;
    if (e.operator === "DoesNotExist") return labels[e.key] === undefined;
    return assert.unreachable(`selector operator ${e.operator}`) as never;
  });
  return plain && expressions;
}

/** Whether NetworkPolicy lets `source` connect to `target`'s container port `port` (ingress). */
function ingressAllowed(target: any, port: number, source: Source): boolean {
  const namespace = kustomizationFile().namespace as string;
  const podLabels = target.spec.template.metadata.labels;
  const container = target.spec.template.spec.containers[0];
  const policies = byKind("NetworkPolicy").filter((np) => labelsMatch(np.spec.podSelector, podLabels));
  // A pod no policy selects accepts everything.
  if (policies.length === 0) return true;
  const peerMatches = (peer: any): boolean => {
    assert.not.ok(peer.ipBlock, "ipBlock peers are not modelled by this test");
    if (source.namespace === undefined) return false;
    const inNamespace = peer.namespaceSelector
      ? labelsMatch(peer.namespaceSelector, { "kubernetes.io/metadata.name": source.namespace })
      : source.namespace === namespace;
    return inNamespace && (peer.podSelector ? labelsMatch(peer.podSelector, source.labels) : true);
  };
  return policies.some((np) =>
    ((np.spec.ingress ?? []) as any[]).some((rule) =>
      (rule.from === undefined || (rule.from as any[]).some(peerMatches)) &&
      (rule.ports === undefined || (rule.ports as any[]).some((p) => containerPort(container, p.port) === port))
    )
  );
}

test("deploy/k8s: NetworkPolicy: only the frontend from outside; catalog and replicas only from the system's pods; redis only from frontends", () => {
  const namespace = kustomizationFile().namespace as string;
  const podOf = (name: string): Source => {
    const w = workloads().find((x) => x.metadata.name === name);
    return { name, namespace, labels: w.spec.template.metadata.labels };
  };
  const outside: Source = { name: "a client outside the cluster" };
  const otherPod: Source = { name: "a pod of another namespace", namespace: "default", labels: { "app.kubernetes.io/name": "frontend" } };
  const stranger: Source = { name: "another pod of this namespace", namespace, labels: { app: "debug" } };
  const sources = [outside, otherPod, stranger, ...["frontend", "catalog", "order", "redis"].map(podOf)];
  const expected: Record<string, string[]> = {
    frontend: sources.map((s) => s.name),
    catalog: ["frontend", "order"],
    order: ["frontend", "order"],
    redis: ["frontend"],
  };
  for (const w of workloads()) {
    const name = w.metadata.name as string;
    const container = w.spec.template.spec.containers[0];
    const port = containerPort(container, name === "frontend" ? "http" : name === "redis" ? "redis" : "grpc") as number;
    const allowed = sources.filter((s) => ingressAllowed(w, port, s)).map((s) => s.name);
    assert.equal(allowed, expected[name], `${name}: who may connect to port ${port}`);
    if (name === "catalog" || name === "order") {
      const metrics = containerPort(container, "metrics") as number;
      assert.ok(ingressAllowed(w, metrics, { name: "prometheus", namespace: "monitoring", labels: {} }), `${name}: Prometheus scrapes`);
      assert.not.ok(ingressAllowed(w, metrics, outside), `${name}: metrics not reachable from outside`);
    }
  }
});

test("deploy/k8s: every container is hardened and bounded: non-root, read-only root, no privilege gain, no capabilities, RuntimeDefault seccomp, requests and limits", () => {
  for (const w of workloads()) {
    const pod = w.spec.template.spec;
    assert.is(pod.securityContext?.runAsNonRoot, true, `${w.metadata.name}: runAsNonRoot`);
    for (const c of pod.containers) {
      const where = `${w.metadata.name}/${c.name}`;
      const sc = c.securityContext ?? {};
      assert.is(sc.allowPrivilegeEscalation, false, `${where}: allowPrivilegeEscalation false`);
      assert.is(sc.readOnlyRootFilesystem, true, `${where}: readOnlyRootFilesystem`);
      assert.equal(sc.capabilities?.drop, ["ALL"], `${where}: drops every capability`);
      assert.is((sc.seccompProfile ?? pod.securityContext?.seccompProfile)?.type, "RuntimeDefault", `${where}: seccomp RuntimeDefault`);
      for (const kind of ["requests", "limits"]) {
        assert.ok(c.resources?.[kind]?.cpu && c.resources?.[kind]?.memory, `${where}: cpu and memory ${kind}`);
      }
      if (!String(c.image).startsWith("stock-bazaar")) assertPinnedImage(String(c.image), where);
    }
  }
});

test("deploy/k8s: Prometheus scrape annotations name each pod's metrics port", () => {
  for (const p of k8sPods()) {
    const annotations = p.workload.spec.template.metadata.annotations ?? {};
    const port = p.loaded.kind === "frontend" ? p.loaded.port : p.loaded.metricsPort;
    assert.ok(port, `${p.pod}: METRICS_PORT is set`);
    assert.is(annotations["prometheus.io/scrape"], "true", `${p.pod}: scrape annotation`);
    assert.is(Number(annotations["prometheus.io/port"]), port, `${p.pod}: the annotation names the metrics port`);
    assert.is(annotations["prometheus.io/path"], "/metrics", `${p.pod}: metrics path`);
    assert.is(containerPort(p.container, port), port, `${p.pod}: declares container port ${port}`);
  }
});

if (spawnSync("kubectl", ["version", "--client"], { stdio: "ignore", timeout: 20_000 }).status === 0) {
  test("deploy/k8s: `kubectl kustomize` builds it: every object in the namespace, the app image renamed", () => {
    const result = spawnSync("kubectl", ["kustomize", k8sDir], { cwd: projectRoot, encoding: "utf8", timeout: 60_000 });
    assert.is(result.status, 0, result.stderr);
    const rendered = YAML.parseAllDocuments(result.stdout).map((d) => d.toJS()).filter((o) => o !== null);
    assert.is(rendered.length, k8sObjects().length);
    const namespace = kustomizationFile().namespace;
    for (const o of rendered) if (o.kind !== "Namespace") assert.is(o.metadata.namespace, namespace, `${o.kind} ${o.metadata.name}`);
    const image = (kustomizationFile().images as any[]).find((i) => i.name === "stock-bazaar");
    const images = rendered.flatMap((o) => o.spec?.template?.spec?.containers ?? []).map((c: any) => c.image);
    assert.ok(images.includes(`${image.newName}:${image.newTag}`), `images: ${images.join(", ")}`);
  });
} else {
  process.stderr.write("deploy.test.ts: no kubectl found; `kubectl kustomize` skipped, structural checks only\n");
  test.skip("deploy/k8s: kubectl kustomize (no kubectl)");
}

// ---- the guides

test("docs/deploy-k8s.md: deleting the kustomization is called what it is (it deletes the Namespace, the claims and the data); a teardown keeps the data", () => {
  assert.ok(k8sObjects().some((o) => o.kind === "Namespace"), "the kustomization owns the Namespace (else this test needs rethinking)");
  const doc = read("docs/deploy-k8s.md");
  // Prose and code comments that say data, volumes or claims survive a kustomization delete.
  const sentences = doc.replace(/\n/g, " ").split(/(?<=[.!?])\s+|#/);
  for (const s of sentences) {
    if (!/delete -k|delete namespace|delete ns\b/.test(s)) continue;
    assert.not.ok(
      /(surviv|outliv|\bkept\b|\bkeeps?\b|\bstay)/i.test(s) && !/delet\w*[^.]*\bdata\b|\bdata\b[^.]*delet/i.test(s),
      `claims data survives: "${s.trim()}"`,
    );
  }
  // Every command that deletes the namespace carries, on its line, the warning that it deletes the data.
  const deleting = doc.split("\n").filter((l) => /kubectl\s+delete\s+(-k\b|namespace\b|ns\b)/.test(l));
  assert.ok(deleting.length >= 1, "the guide names the command that deletes everything");
  for (const line of deleting) assert.match(line, /#.*DELETES.*data/i, `the line says it deletes the data: ${line}`);
  // The teardown that keeps the data deletes the workloads by label and names no namespace or claim.
  const keeping = doc.replace(/\\\n\s*/g, " ").split("\n").filter((l) =>
    /kubectl\s.*\bdelete\b.*-l\s+app\.kubernetes\.io\/part-of=stock-bazaar/.test(l)
  );
  assert.ok(keeping.length >= 1, "a teardown that keeps the data");
  for (const line of keeping) {
    assert.not.ok(/\b(namespaces?|ns|pvc|persistentvolumeclaims?|pv|persistentvolumes?)\b[,\s]/.test(line.replace(/#.*/, "")), line);
  }
});

test("docs/deploy-aws.md and README: no Node 20 image, no Node health probe, and the commands that delete data say so", () => {
  for (const file of ["docs/deploy-aws.md", "docs/deploy-k8s.md", "README.md"]) {
    const doc = read(file);
    assert.not.ok(/node:20/.test(doc), `${file}: no Node 20 image`);
    assert.not.ok(/healthcheck\.(ts|mjs)/.test(doc), `${file}: no Node health probe`);
    for (const line of doc.split("\n").filter((l) => /compose down -v|terminate-instances/.test(l))) {
      assert.match(line, /#.*DELETES/i, `${file}: the line says what it deletes: ${line}`);
    }
  }
});

// ---- the image's commands, run as local processes

const runTimeoutMs = 20_000;
/** A probe's gRPC call to a running service. */
const probeTimeoutMs = 3_000;

/** Run `command args` (tracked by test/support/processes.ts); by default Node on the image's entry point. */
function run(
  args: string[],
  env: Env,
  command: string[] = [process.execPath, "--import", "tsx", "scripts/entrypoint.ts"],
): { child: ChildProcess; output: () => string; exited: Promise<number | string> } {
  const [cmd, ...prefix] = command;
  const running = runTracked(cmd as string, [...prefix, ...args], { ...process.env, ...env }, { timeoutMs: runTimeoutMs * 3 });
  const exited = running.exited.then((e) => e.code ?? e.signal ?? "unknown");
  return { child: running.child, output: running.output, exited };
}

async function waitListening(p: ReturnType<typeof run>): Promise<void> {
  const deadline = Date.now() + runTimeoutMs;
  while (!p.output().split("\n").some((line) => listeningPort(line) !== undefined)) {
    if (Date.now() > deadline || p.child.exitCode !== null) assert.unreachable(`did not start:\n${p.output()}`);
    await sleep(50);
  }
}

/** compose.yaml's frontend health check, exactly as the container runs it, with `env` as the container's environment. */
function frontendCheck(env: Env): ReturnType<typeof run> {
  const [, shell, flag, script] = composeFile().services.frontend.healthcheck.test as string[];
  return run([flag as string, composeUnescape(script as string)], env, [shell as string]);
}

/** Repeat `check` every 200 ms until it exits 0; after runTimeoutMs, fails with the last run's exit code and output. */
async function untilPasses(check: () => ReturnType<typeof run>, what: string): Promise<void> {
  let last = "";
  const passes = async (): Promise<boolean> => {
    const p = check();
    const code = await p.exited;
    last = `exit ${code}:\n${p.output()}`;
    return code === 0;
  };
  try {
    await waitFor(passes, runTimeoutMs, what, 200);
  } catch (err) {
    throw new Error(`${(err as Error).message}; the last run: ${last}`, { cause: err });
  }
}

/** Start the catalog and one replica, then the frontend (so it finds its leader at start), through the image's entry point. */
async function startSystem(dataDir: string) {
  const [catalogPort, orderPort, frontendPort, catalogMetrics, orderMetrics] = await Promise.all([
    freePort(),
    freePort(),
    freePort(),
    freePort(),
    freePort(),
  ]);
  const catalogAddr = `127.0.0.1:${catalogPort}`;
  const envs = {
    catalog: { HOST: "0.0.0.0", DATA_DIR: dataDir, PORT: String(catalogPort), METRICS_PORT: String(catalogMetrics) },
    order: {
      HOST: "0.0.0.0",
      DATA_DIR: dataDir,
      CATALOG_ADDR: catalogAddr,
      ORDER_REPLICAS: `1@127.0.0.1:${orderPort}`,
      ORDER_ID: "1",
      METRICS_PORT: String(orderMetrics),
    },
    frontend: { HOST: "0.0.0.0", PORT: String(frontendPort), CATALOG_ADDR: catalogAddr, ORDER_REPLICAS: `1@127.0.0.1:${orderPort}` },
  };
  const services: { name: Kind; p: ReturnType<typeof run> }[] = [];
  for (const name of ["catalog", "order", "frontend"] as const) {
    const p = run([name], envs[name]);
    services.push({ name, p });
    await waitListening(p);
  }
  return { services, envs, ports: { catalogPort, orderPort, frontendPort, catalogMetrics, orderMetrics } };
}

test("the image's commands: entrypoint starts each service; compose's frontend check passes only while it can serve trades; what the probes and scrape annotations rely on (grpc.health.v1 SERVING on the gRPC ports, GET /metrics on METRICS_PORT and on the frontend's port); SIGTERM exits 0", async () => {
  const dataDir = tempDir("image");
  const { services, envs, ports } = await startSystem(dataDir);
  try {
    await untilPasses(() => frontendCheck(envs.frontend), "the frontend check to pass against a frontend that can serve trades");
    for (const [name, port] of [["catalog", ports.catalogPort], ["order", ports.orderPort]] as const) {
      // grpc.health.v1 Check for service "", as the kubelet's grpc probe and grpc_health_probe send it.
      const health = new HealthClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), channelOptions);
      try {
        const reply = await callUnary<HealthCheckRequest, HealthCheckResponse>(health, health.check, { service: "" }, probeTimeoutMs);
        assert.is(reply.status, ServingStatus.SERVING, `${name}: grpc.health.v1 Check("") answers SERVING`);
      } finally {
        health.close();
      }
    }
    for (
      const [name, port] of [["catalog", ports.catalogMetrics], ["order", ports.orderMetrics], ["frontend", ports.frontendPort]] as const
    ) {
      const scrape = await requestJson(`http://127.0.0.1:${port}`, "GET", "/metrics");
      assert.is(scrape.status, 200, `${name}: GET /metrics on port ${port}`);
    }
    const deadPort = await freePort();
    const dead = frontendCheck({ ...envs.frontend, PORT: String(deadPort) });
    assert.is.not(await dead.exited, 0, "the check fails on a port nobody listens on");
    const unknown = run(["nosuch"], {});
    assert.is(await unknown.exited, 2, "unknown image command");
    // Without its only replica the frontend cannot serve trades: /health answers 503, the check fails.
    const order = services.find((s) => s.name === "order") as (typeof services)[number];
    order.p.child.kill("SIGTERM");
    assert.is(await order.p.exited, 0, `order exits 0 on SIGTERM:\n${order.p.output()}`);
    const degraded = frontendCheck(envs.frontend);
    assert.is.not(await degraded.exited, 0, "the check fails while the frontend cannot serve trades");
    for (const s of [...services].reverse().filter((x) => x !== order)) {
      s.p.child.kill("SIGTERM");
      assert.is(await s.p.exited, 0, `${s.name} exits 0 on SIGTERM:\n${s.p.output()}`);
    }
  } finally {
    for (const s of services) s.p.child.kill("SIGKILL");
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

test.run();
