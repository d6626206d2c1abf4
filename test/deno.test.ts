// The whole system under Deno 2, from the same sources: the catalog, three replicas and the
// frontend started with `deno run` and only the permissions the README gives, the client run
// under Deno against them, and the order leader SIGKILLed while the client trades, then
// restarted. The client must still verify every order it placed, the guarantees of
// README "Guarantees" must hold, and stopping every service with SIGTERM must lose nothing.
// Skipped, with a message, only when the `deno` dev dependency's binary is missing.
//
// Known Deno bug: Deno's node:http2 can abort inside nghttp2 while it handles a GOAWAY
// (`find_stream_on_goaway_func: Assertion 'stream->closed_next == NULL' failed`, SIGABRT, or a
// silent SIGSEGV; denoland/deno#36788, open for Deno 2.9.6). gRPC sends GOAWAY when a peer
// shuts down, so a stop sometimes ends that way instead of exit 0. The test tolerates exactly
// those two endings at the SIGTERM step, says so on stderr, and checks that no data was lost.

import type { ChildProcess } from "node:child_process";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { denoBinary, denoPermissions } from "../lib/service_process.ts";
import { LocalSystem } from "./support/local_system.ts";
import { runTracked } from "./support/processes.ts";
import { requestJson } from "./support/http.ts";
import { sleep } from "../lib/sleep.ts";
import { readOrderLog, verifyGuarantees, waitFilesIdentical } from "./support/verify.ts";

const seed = Number(process.env["TEST_SEED"] ?? Math.floor(Math.random() * 1_000_000));
/** Client load: enough iterations that the leader dies while sessions are still trading. */
const clientSessions = 4;
const clientIterations = 250;
const clientP = 0.8;
/** The leader is killed once this many orders are in its log. */
const ordersBeforeKill = 25;
/** The whole client run, failover included. */
const clientTimeoutMs = 90_000;

const deno = denoBinary();
const denoVersion = fs.existsSync(deno) ? spawnSync(deno, ["--version"], { encoding: "utf8", timeout: 20_000 }) : undefined;

type Health = {
  data?: { leader: number; elections: number; replicas: { id: number; lastNumber: number }[] };
  error?: { details?: { leader: number } };
};

async function health(cluster: LocalSystem): Promise<Health> {
  return (await requestJson(cluster.url, "GET", "/health")).body as Health;
}

async function waitOrders(cluster: LocalSystem, count: number, client: { exitCode: number | null }): Promise<number> {
  const deadline = Date.now() + clientTimeoutMs;
  for (;;) {
    const h = await health(cluster);
    const leader = h.data?.leader;
    const last = h.data?.replicas.find((r) => r.id === leader)?.lastNumber ?? -1;
    if (leader !== undefined && last + 1 >= count) return leader;
    if (client.exitCode !== null) assert.unreachable("the client finished before the leader could be killed");
    if (Date.now() > deadline) assert.unreachable(`fewer than ${count} orders after ${clientTimeoutMs} ms`);
    await sleep(50);
  }
}

function runClient(port: number): { child: ChildProcess; done: Promise<{ code: number | string; stdout: string; output: string }> } {
  const args = [
    "run",
    "--quiet",
    "--no-prompt",
    ...denoPermissions("client/run.ts", {}),
    "client/run.ts",
    "--port",
    String(port),
    "--p",
    String(clientP),
    "--iterations",
    String(clientIterations),
    "--sessions",
    String(clientSessions),
    "--seed",
    String(seed),
    "--json",
  ];
  const run = runTracked(deno, args, { ...process.env, DENO_NO_UPDATE_CHECK: "1" }, { timeoutMs: clientTimeoutMs });
  const done = run.exited.then((e) => ({ code: e.code ?? e.signal ?? "unknown", stdout: run.stdout(), output: run.output() }));
  return { child: run.child, done };
}

if (denoVersion?.status !== 0) {
  process.stderr.write(`deno.test.ts: SKIPPED: no working deno binary at ${deno} (npm install brings the \`deno\` dev dependency)\n`);
  test.skip("the whole system under Deno (no deno binary)");
} else {
  test(`the whole system under ${(denoVersion.stdout.split("\n")[0] ?? "deno").trim()}: the client verifies every order across a leader kill`, async () => {
    let cluster: LocalSystem | undefined;
    let client: ReturnType<typeof runClient> | undefined;
    try {
      cluster = await LocalSystem.start({ runtime: "deno" });
      client = runClient(cluster.frontendPort);
      const leader = await waitOrders(cluster, ordersBeforeKill, client.child);
      await cluster.kill(cluster.replicas.get(leader));
      await sleep(500);
      await cluster.startReplica(leader);

      const { code, stdout, output } = await client.done;
      assert.is(code, 0, `client exit code (seed=${seed}):\n${output.slice(-8_000)}`);
      const result = JSON.parse(stdout) as { orders: number; verified: number; errors: string[]; mismatches: string[] };
      assert.equal([result.errors, result.mismatches], [[], []], "the client saw no error and no mismatch");
      assert.ok(result.orders > ordersBeforeKill, `orders placed after the kill too (${result.orders})`);
      assert.is(result.verified, result.orders, "every recorded order verified");

      const after = await health(cluster);
      assert.ok((after.data?.elections ?? 0) >= 2, `the frontend selected a new leader after the kill: ${JSON.stringify(after)}`);
      await verifyGuarantees(cluster, [], [1, 2, 3]);

      // SIGTERM under Deno, the frontend first and the catalog last: exit 0 (or the known Deno
      // abort, see the file comment), and every replica's log still complete and identical.
      const logged = readOrderLog(cluster.orderFile(1)).length;
      for (const service of [cluster.frontend, ...cluster.replicas.values(), cluster.catalog]) {
        assert.ok(service);
        const code = await service.stop();
        if (code === "SIGABRT" || code === "SIGSEGV") {
          assert.ok(
            code === "SIGSEGV" || service.output().includes("find_stream_on_goaway_func"),
            `${service.name} aborted for another reason:\n${service.output().slice(-2_000)}`,
          );
          process.stderr.write(
            `deno.test.ts: ${service.name} ended with ${code} on SIGTERM: the known Deno nghttp2 GOAWAY bug (denoland/deno#36788)\n`,
          );
        } else {
          assert.is(code, 0, `${service.name} exits 0 on SIGTERM under Deno:\n${service.output().slice(-2_000)}`);
        }
      }
      await waitFilesIdentical(cluster, [1, 2, 3]);
      assert.is(readOrderLog(cluster.orderFile(1)).length, logged, "no order lost in the shutdown");
    } catch (err) {
      const logs = cluster?.logs() ?? "";
      // The head shows how each service started; the tail, the last moments.
      process.stderr.write(
        `deno run failed with seed=${seed}\n${logs.length > 40_000 ? `${logs.slice(0, 20_000)}\n[...]\n${logs.slice(-20_000)}` : logs}\n`,
      );
      throw err;
    } finally {
      client?.child.kill("SIGKILL");
      await cluster?.stop();
    }
  });
}

test.run();
