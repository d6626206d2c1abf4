// The cache timeline reads the frontend's CACHE_LOG=1 lines; this pins that contract: lines
// written by the real logger (lib/log.ts via cacheEventLogger) parse back to their events.

import { suite } from "uvu";
import * as assert from "uvu/assert";
import { cacheEventLogger } from "../frontend/cache/cache_config.ts";
import { Logger } from "../lib/log.ts";
import { parseCacheLine } from "./cache_timeline.ts";

const parse = suite("cache log lines");

/** The lines the logger writes to stderr while `fn` runs. */
function captureStderr(fn: () => void): string[] {
  const lines: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string) => {
    lines.push(...String(chunk).split("\n").filter((l) => l !== ""));
    return true;
  }) as typeof process.stderr.write;
  try {
    fn();
  } finally {
    process.stderr.write = write;
  }
  return lines;
}

parse("fill, evict and hit lines from the real logger parse back with their names and keys", () => {
  const sink = cacheEventLogger(new Logger("frontend", {}, "info"));
  const lines = captureStderr(() => {
    sink({ kind: "evict", name: "FishCo" }, ["BoarCo", "GameStart"]);
    sink({ kind: "fill", name: "GameStart", version: 3, outcome: "filled" }, ["BoarCo", "GameStart"]);
    sink({ kind: "hit", name: "BoarCo" }, undefined);
  });
  const events = lines.map(parseCacheLine);
  assert.equal(events.map((e) => [e?.kind, e?.name]), [["evict", "FishCo"], ["fill", "GameStart"], ["hit", "BoarCo"]]);
  assert.is(events[0]?.fields["keys"], "[BoarCo,GameStart]");
  assert.is(events[1]?.fields["outcome"], "filled");
  assert.is(events[2]?.fields["keys"], undefined);
});

parse("other log lines are not cache events", () => {
  assert.is(parseCacheLine("2026-01-01T00:00:00.000Z info frontend leader=3 epoch=1 leader selected"), undefined);
  assert.is(parseCacheLine("2026-01-01T00:00:00.000Z info frontend port=1 listening on http://127.0.0.1:1"), undefined);
});

parse.run();
