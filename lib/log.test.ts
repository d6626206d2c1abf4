// The logger's contract: one JSON object per line with time, level, service, context and fields;
// the level threshold; set() and child(); repeated lines limited per message with the count of
// those left out; the readable form for a terminal; the `listening` line services are awaited by.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { ConfigError } from "./config.ts";
import { formatReadable, listeningPort, Logger, parseLogLine, repeatKeysMax } from "./log.ts";
import type { LogLevel } from "./log.ts";

/** A logger writing into an array, with a clock the case moves. */
function recorder(level: LogLevel = "debug", context = {}): { log: Logger; lines: string[]; clock: { ms: number } } {
  const lines: string[] = [];
  const clock = { ms: 0 };
  const log = new Logger("svc", context, level, { destination: { write: (line) => lines.push(line) }, now: () => clock.ms });
  return { log, lines, clock };
}

const records = (lines: readonly string[]): Record<string, unknown>[] =>
  lines.map((line) => {
    assert.ok(line.endsWith("\n") && !line.slice(0, -1).includes("\n"), `one line: ${JSON.stringify(line)}`);
    const record = parseLogLine(line);
    assert.ok(record !== undefined, `not JSON: ${line}`);
    return record as Record<string, unknown>;
  });

test("one JSON object per line: time, level, service, context, fields, msg; undefined fields left out", () => {
  const { log, lines } = recorder("debug", { replica: 2 });
  log.warn("peer down", { peer: 3, error: 'a "quoted"\nmessage', gone: undefined, ok: false, none: null });
  const [r] = records(lines);
  assert.equal(Object.keys(r ?? {}), ["level", "time", "service", "replica", "peer", "error", "ok", "none", "msg"]);
  assert.equal(r, {
    ...r,
    level: "warn",
    service: "svc",
    replica: 2,
    peer: 3,
    error: 'a "quoted"\nmessage',
    ok: false,
    none: null,
    msg: "peer down",
  });
  assert.ok(!Number.isNaN(Date.parse(String(r?.["time"]))) && String(r?.["time"]).endsWith("Z"), "ISO time in UTC");
});

test("a field named like a line's own key does not overwrite it", () => {
  const { log, lines } = recorder();
  log.info("real", { msg: "fake", level: "fake", service: "fake", time: "fake" });
  const [r] = records(lines);
  assert.equal([r?.["msg"], r?.["level"], r?.["service"]], ["real", "info", "svc"]);
  assert.is(r?.["field.msg"], "fake");
});

test("the level threshold: lines below it are not written; silent writes nothing", () => {
  const warn = recorder("warn");
  warn.log.debug("d");
  warn.log.info("i");
  warn.log.warn("w");
  warn.log.error("e");
  assert.equal(records(warn.lines).map((r) => r["level"]), ["warn", "error"]);
  const silent = recorder("silent");
  silent.log.error("e");
  silent.log.limited("error", "e");
  assert.equal(silent.lines, []);
});

test("LOG_LEVEL: a level name, empty for the default; anything else, Object.prototype keys included, is a ConfigError", () => {
  const saved = process.env["LOG_LEVEL"];
  try {
    for (const bad of ["toString", "constructor", "__proto__", "verbose", "INFO", "  "]) {
      process.env["LOG_LEVEL"] = bad;
      assert.throws(() => new Logger("svc"), (e: unknown) => e instanceof ConfigError && e.variable === "LOG_LEVEL", bad);
    }
    process.env["LOG_LEVEL"] = "";
    new Logger("svc");
  } finally {
    if (saved === undefined) delete process.env["LOG_LEVEL"];
    else process.env["LOG_LEVEL"] = saved;
  }
});

test("set() changes the context of later lines; child() adds fields and shares the output", () => {
  const { log, lines } = recorder("info", { replica: 1 });
  log.set({ role: "follower", epoch: 1 });
  log.info("a");
  const request = log.child({ requestId: "r-1" });
  log.set({ role: "leader", epoch: 2 });
  request.info("b", { epoch: 9 });
  log.info("c");
  assert.equal(records(lines).map(({ time: _, ...r }) => r), [
    { level: "info", service: "svc", replica: 1, role: "follower", epoch: 1, msg: "a" },
    { level: "info", service: "svc", replica: 1, role: "follower", epoch: 9, requestId: "r-1", msg: "b" },
    { level: "info", service: "svc", replica: 1, role: "leader", epoch: 2, msg: "c" },
  ]);
});

test("limited: at most one line per interval per message, the next one says how many were left out", () => {
  const { log, lines, clock } = recorder();
  for (const ms of [0, 1, 500, 999, 1_000, 1_500, 2_500]) {
    clock.ms = ms;
    log.limited("warn", "nothing", { n: ms }, 1_000);
    log.limited("warn", "other", { n: ms }, 10_000);
  }
  assert.equal(records(lines).map((r) => [r["msg"], r["n"], r["suppressed"]]), [
    ["nothing", 0, undefined],
    ["other", 0, undefined],
    ["nothing", 1_000, 3],
    ["nothing", 2_500, 1],
  ]);
});

test("limited: children share the limit, and below the level nothing is written", () => {
  const { log, lines, clock } = recorder("info");
  log.limited("debug", "quiet", {}, 1_000);
  log.limited("warn", "loop", {}, 1_000);
  log.child({ requestId: "x" }).limited("warn", "loop", {}, 1_000);
  clock.ms = 1_000;
  log.child({ requestId: "y" }).limited("warn", "loop", {}, 1_000);
  assert.equal(records(lines).map((r) => [r["msg"], r["requestId"], r["suppressed"]]), [["loop", undefined, undefined], ["loop", "y", 1]]);
});

test("limited: the messages it tracks are bounded; the oldest is forgotten first", () => {
  const { log, lines } = recorder();
  for (let i = 0; i <= repeatKeysMax; i++) log.limited("info", `m${i}`, {}, 1_000);
  log.limited("info", `m${repeatKeysMax}`, {}, 1_000);
  log.limited("info", "m0", {}, 1_000);
  assert.is(lines.length, repeatKeysMax + 2, "m0 was forgotten, so it is written again; the newest one is still limited");
});

test("the readable form: time of day, level, service, msg, then key=value with quotes where needed", () => {
  const line = formatReadable({
    time: "2026-01-02T03:04:05.678Z",
    level: "warn",
    service: "order",
    msg: "peer down",
    replica: 1,
    why: "no route",
    n: null,
  });
  assert.is(line, '03:04:05.678 WARN  order peer down replica=1 why="no route" n=null');
});

test("listeningPort: the port of a service's listening line, nothing for other lines", () => {
  const { log, lines } = recorder();
  log.info("listening", { port: 8080 });
  log.info("listening on http://127.0.0.1:8081", { port: 8081 });
  log.info("http listening", { port: 1 });
  log.info("listening", { port: "2" });
  assert.equal(lines.map(listeningPort), [8080, 8081, undefined, undefined]);
  assert.is(listeningPort("listening port=3"), undefined);
  assert.is(parseLogLine("{not json"), undefined);
  assert.is(parseLogLine("[1]"), undefined);
});

test("listening(): written at info at every level, silent included, with the logger's context; other lines still filtered", () => {
  for (const level of ["debug", "info", "warn", "error", "silent"] as const) {
    const { log, lines } = recorder(level, { replica: 2 });
    log.info("not this");
    log.listening("listening", { port: 50061 });
    const [record] = records(lines.filter((line) => listeningPort(line) !== undefined));
    assert.equal(lines.map(listeningPort).filter((p) => p !== undefined), [50061], level);
    assert.equal([record?.["level"], record?.["replica"], record?.["service"]], ["info", 2, "svc"], level);
    assert.is(lines.length, level === "debug" || level === "info" ? 2 : 1, level);
  }
  assert.throws(() => recorder().log.listening("up", { port: 1 }), /starts with "listening"/);
});

test.run();
