// deno-lint-ignore-file no-explicit-any no-control-regex -- parsed YAML documents are untyped; \u0000 marks a glob segment
// The deployment files held to the code: compose.yaml, the Dockerfile and deploy/k8s/ are
// parsed, and every service's command, environment, ports, probes and volumes are checked
// against what the services' own configuration loaders, the image's entry point and the
// health probe accept. There is no container engine or cluster here, so nothing is started
// from these files (`docker compose config` runs when a compose client exists); the image's
// commands themselves run as local processes in the last test.

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
import { listeningPort, Logger } from "../lib/log.ts";
import { freePort, projectRoot } from "../lib/service_process.ts";
import { readOrderConfig } from "../order/config.ts";
import { CatalogHealthReply, CatalogService } from "../gen/catalog.ts";
import { HealthReply, OrderService } from "../gen/order.ts";
import { containerCommands, isContainerCommand } from "../scripts/entrypoint.ts";
import {
  catalogHealthFields,
  catalogHealthPath,
  decodeVarintFields,
  orderHealthFields,
  orderHealthPath,
  parseProbeArgs,
  probeTimeoutMs,
} from "../scripts/healthcheck.ts";
import { runTracked, tempDir } from "./support/processes.ts";
import { sleep } from "../lib/sleep.ts";

type Kind = "catalog" | "order" | "frontend";
type Loaded = { kind: Kind; port: number; dataDir?: string; config: any };

const root = (file: string): string => path.join(projectRoot, file);
const read = (file: string): string => fs.readFileSync(root(file), "utf8");
/** How every container probe starts: the bundled probe, with plain Node (see the Dockerfile). */
const probeBundle = "scripts/healthcheck.mjs";
const probePrefix = ["node", probeBundle];
const appServices = ["catalog", "order-1", "order-2", "order-3", "frontend"];

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
  return env["DATA_DIR"] ? { ...result, dataDir: env["DATA_DIR"] } : result;
}

/** The kind of service a container command runs, after checking the image accepts it. */
function kindOf(args: unknown, where: string): Kind {
  assert.ok(Array.isArray(args) && args.length === 1, `${where}: the command is one image command (got ${JSON.stringify(args)})`);
  const name = String((args as unknown[])[0]);
  assert.ok(
    isContainerCommand(name) && name !== "client" && name !== "healthcheck",
    `${where}: "${name}" is not a service command of scripts/entrypoint.ts`,
  );
  return name as Kind;
}

function checkProbe(command: unknown, kind: Kind, where: string): void {
  assert.ok(Array.isArray(command), `${where}: probe is an exec form list`);
  const cmd = (command as unknown[]).map(String);
  assert.equal(cmd.slice(0, probePrefix.length), probePrefix, `${where}: probe runs the bundled scripts/healthcheck.ts with plain Node`);
  let args;
  try {
    args = parseProbeArgs(cmd.slice(probePrefix.length));
  } catch (err) {
    assert.unreachable(`${where}: ${String(err)}`);
  }
  assert.is(args?.service, kind, `${where}: probe asks the ${kind} service`);
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

test("compose.yaml: health checks call each service's own health endpoint with a tool its image has", () => {
  const compose = composeFile();
  const services: Record<string, any> = compose.services;
  for (const name of appServices) {
    const check = services[name].healthcheck;
    assert.ok(check, `${name} has a health check`);
    assert.is(check.test[0], "CMD", `${name}: exec form, no shell needed`);
    checkProbe(check.test.slice(1), composeLoad(name).kind, `compose ${name}`);
    assert.ok(seconds(check.timeout) * 1000 > probeTimeoutMs, `${name}: timeout above the probe's own deadline`);
    assert.ok(seconds(check.interval) > 0 && check.retries > 0);
  }
  assert.equal(services["redis"].healthcheck.test, ["CMD", "redis-cli", "ping"]);
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
  test(`compose.yaml: \`${composeCli.join(" ")} config\` accepts it`, () => {
    const [cmd, ...args] = composeCli;
    const result = spawnSync(cmd as string, [...args, "-f", "compose.yaml", "config", "-q"], {
      cwd: projectRoot,
      encoding: "utf8",
      timeout: 60_000,
    });
    assert.is(result.status, 0, result.stderr);
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

/** The Dockerfile's esbuild step for the probe: its stage, its arguments and its output file. */
function probeBuild(): { stage: Stage; args: string[]; outfile: string } {
  for (const stage of dockerStages()) {
    const run = stage.lines.find((l) => /^RUN\s+node_modules\/\.bin\/esbuild\s/.test(l));
    if (!run) continue;
    const args = run.split(/\s+/).slice(2);
    const outfile = args.find((a) => a.startsWith("--outfile="))?.slice("--outfile=".length);
    assert.ok(outfile, "the esbuild step names its --outfile");
    return { stage, args, outfile: outfile as string };
  }
  return assert.unreachable("a Dockerfile stage bundles the probe with esbuild") as never;
}

/** The probe bundled by the Dockerfile's own esbuild command, into a scratch folder. */
const bundledProbe = memo((): string => {
  const { args } = probeBuild();
  const dir = tempDir("probe");
  process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
  const out = path.join(dir, "healthcheck.mjs");
  const result = spawnSync(root("node_modules/.bin/esbuild"), args.map((a) => a.startsWith("--outfile=") ? `--outfile=${out}` : a), {
    cwd: projectRoot,
    encoding: "utf8",
    timeout: 60_000,
  });
  assert.is(result.status, 0, `esbuild: ${result.stderr}`);
  return out;
});

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

test("Dockerfile: the probe is bundled from scripts/healthcheck.ts into the image at scripts/healthcheck.mjs, and the bundle builds", () => {
  const { stage, args, outfile } = probeBuild();
  assert.is(args[0], "scripts/healthcheck.ts");
  const probeImports = importGraph(["scripts/healthcheck.ts"]);
  for (const file of probeImports.files) {
    assert.ok(copiedInto(stage, file), `${file} is in the probe's build stage`);
    assert.not.ok(dockerignored(file), `${file} is not excluded by .dockerignore`);
  }
  assert.equal([...probeImports.packages], [], "the probe needs no package at run time");
  const final = (dockerStages()[dockerStages().length - 1] as Stage).lines;
  assert.ok(
    final.some((l) => l.replace(/\s+/g, " ") === `COPY --from=${stage.name} /app/${outfile} ./${probeBundle}`),
    `the bundle is copied to ${probeBundle}`,
  );
  assert.ok(fs.statSync(bundledProbe()).size > 0);
});

test("the probe's gRPC paths and reply fields are the ones in gen/", () => {
  assert.is(catalogHealthPath, CatalogService.health.path);
  assert.is(orderHealthPath, OrderService.health.path);
  // A real reply has length-delimited fields (role, live_followers) before and between the varints.
  const order = decodeVarintFields(
    HealthReply.encode(HealthReply.fromPartial({
      id: 2,
      lastNumber: -1,
      epoch: 7,
      leaderId: 3,
      ready: true,
      liveFollowers: [1, 3],
      role: "leader",
      commitNumber: -1,
    })).finish(),
  );
  const f = orderHealthFields;
  assert.equal([order.get(f.id), order.get(f.lastNumber), order.get(f.epoch), order.get(f.leaderId), order.get(f.ready)], [
    2n,
    -1n,
    7n,
    3n,
    1n,
  ]);
  assert.is(
    decodeVarintFields(HealthReply.encode(HealthReply.fromPartial({ id: 1 })).finish()).get(f.ready),
    undefined,
    "not ready: field absent",
  );
  const catalog = decodeVarintFields(
    CatalogHealthReply.encode(CatalogHealthReply.fromPartial({ stocks: 12, subscribers: 2, tradesApplied: 300 })).finish(),
  );
  const c = catalogHealthFields;
  assert.equal([catalog.get(c.stocks), catalog.get(c.subscribers), catalog.get(c.tradesApplied)], [12n, 2n, 300n]);
  assert.throws(() => decodeVarintFields(Uint8Array.of(0x08, 0x80)), /truncated varint/);
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

test("deploy/k8s: the catalog and the replicas are StatefulSets with a claim mounted at DATA_DIR; the frontends a Deployment of N", () => {
  for (const [name, replicas] of [["catalog", 1], ["order", 3]] as const) {
    const set = named("StatefulSet", name);
    assert.is(set.spec.replicas, replicas, `${name} replicas`);
    assert.is(named("Service", set.spec.serviceName).spec.clusterIP, "None", `${name}: governing Service is headless`);
    const claim = set.spec.volumeClaimTemplates?.[0]?.metadata?.name;
    assert.ok(claim, `${name} has a persistent volume claim template`);
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

test("deploy/k8s: readiness, liveness and startup probes call each service's own health", () => {
  for (const p of k8sPods()) {
    for (const probe of ["readinessProbe", "livenessProbe", "startupProbe"]) {
      const spec = p.container[probe];
      if (spec === undefined && probe === "startupProbe") continue;
      const where = `${p.pod} ${probe}`;
      assert.ok(spec, `${where} is set`);
      if (spec.httpGet) {
        assert.is(spec.httpGet.path, "/health", where);
        assert.ok(
          p.container.ports.some((cp: any) =>
            (cp.name === spec.httpGet.port || cp.containerPort === spec.httpGet.port) && cp.containerPort === p.loaded.port
          ),
          `${where} port`,
        );
      } else {
        checkProbe(spec.exec?.command, p.loaded.kind, where);
        assert.ok((spec.timeoutSeconds ?? 1) * 1000 > probeTimeoutMs, `${where}: timeout above the probe's own deadline`);
      }
    }
  }
  const redis = named("Deployment", "redis").spec.template.spec.containers[0];
  assert.equal(redis.readinessProbe.exec.command, ["redis-cli", "ping"]);
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

// ---- the image's commands, run as local processes

const runTimeoutMs = 20_000;

/** Run `node <prefix> <args>` (tracked by test/support/processes.ts); the prefix defaults to the image's entry point. */
function run(
  args: string[],
  env: Env,
  prefix = ["--import", "tsx", "scripts/entrypoint.ts"],
): { child: ChildProcess; output: () => string; exited: Promise<number | string> } {
  const running = runTracked(process.execPath, [...prefix, ...args], { ...process.env, ...env }, { timeoutMs: runTimeoutMs * 3 });
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

test("the image's commands: entrypoint starts each service, healthcheck passes and fails as it should, SIGTERM exits 0", async () => {
  const dataDir = tempDir("image");
  const [catalogPort, orderPort, frontendPort, deadPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const common = {
    HOST: "0.0.0.0",
    DATA_DIR: dataDir,
    LOG_LEVEL: "info",
    CATALOG_ADDR: `127.0.0.1:${catalogPort}`,
    ORDER_REPLICAS: `1@127.0.0.1:${orderPort}`,
  };
  const envs = {
    catalog: { HOST: "0.0.0.0", DATA_DIR: dataDir, PORT: String(catalogPort) },
    order: { ...common, ORDER_ID: "1" },
    frontend: { HOST: "0.0.0.0", PORT: String(frontendPort), CATALOG_ADDR: common.CATALOG_ADDR, ORDER_REPLICAS: common.ORDER_REPLICAS },
  };
  const services = (["catalog", "order", "frontend"] as const).map((name) => ({ name, p: run([name], envs[name]) }));
  try {
    for (const s of services) await waitListening(s.p);
    // As the containers probe: the bundle, with plain Node.
    const bundle = bundledProbe();
    for (const s of services) {
      for (const extra of [[], ["--live"]]) {
        const probe = run([bundle, s.name, ...extra], envs[s.name], []);
        assert.is(await probe.exited, 0, `probe ${s.name} ${extra.join(" ")}:\n${probe.output()}`);
        assert.match(probe.output(), /healthy/);
      }
    }
    const dead = run([bundle, "catalog"], { ...envs.catalog, PORT: String(deadPort) }, []);
    assert.is(await dead.exited, 1, `a probe of a port nobody listens on fails:\n${dead.output()}`);
    const bad = run([bundle, "nosuch"], {}, []);
    assert.is(await bad.exited, 2, "unknown probe target");
    // The image's `healthcheck` command runs the same probe from the sources.
    const viaEntrypoint = run(["healthcheck", "order"], envs.order);
    assert.is(await viaEntrypoint.exited, 0, viaEntrypoint.output());
    const unknown = run(["nosuch"], {});
    assert.is(await unknown.exited, 2, "unknown image command");
    for (const s of [...services].reverse()) {
      s.p.child.kill("SIGTERM");
      assert.is(await s.p.exited, 0, `${s.name} exits 0 on SIGTERM:\n${s.p.output()}`);
    }
  } finally {
    for (const s of services) s.p.child.kill("SIGKILL");
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

test.run();
