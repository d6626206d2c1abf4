// The cache timeline reads the frontend's CACHE_LOG=1 lines; this pins that contract: lines
// written by the real logger (lib/log.ts via cacheEventLogger) parse back to their events.

import { suite } from "uvu";
import * as assert from "uvu/assert";
import { cacheEventLogger } from "../frontend/cache/cache_config.ts";
import { Logger } from "../lib/log.ts";
import { parseCacheLine } from "./cache_timeline.ts";

const parse = suite("cache log lines");

parse("fill, evict and hit lines from the real logger parse back with their names and keys", () => {
  const lines: string[] = [];
  const sink = cacheEventLogger(new Logger("frontend", {}, "info", { destination: { write: (line) => lines.push(line) } }));
  sink({ kind: "evict", name: "FishCo" }, ["BoarCo", "GameStart"]);
  sink({ kind: "fill", name: "GameStart", version: 3, outcome: "filled" }, ["BoarCo", "GameStart"]);
  sink({ kind: "hit", name: "BoarCo" }, undefined);
  const events = lines.map(parseCacheLine);
  assert.equal(events.map((e) => [e?.kind, e?.name]), [["evict", "FishCo"], ["fill", "GameStart"], ["hit", "BoarCo"]]);
  assert.is(events[0]?.fields["keys"], "[BoarCo,GameStart]");
  assert.is(events[1]?.fields["outcome"], "filled");
  assert.is(events[2]?.fields["keys"], undefined);
});

parse("other log lines are not cache events", () => {
  assert.is(parseCacheLine('{"level":"info","service":"frontend","leader":3,"msg":"order leader changed"}'), undefined);
  assert.is(parseCacheLine('{"level":"info","service":"frontend","port":1,"msg":"listening on http://127.0.0.1:1"}'), undefined);
  assert.is(parseCacheLine("not json cache hit"), undefined);
});

parse.run();
