// The Lua scripts behind the Redis cache backend. Each one is a whole check-and-write, and Redis
// runs a script atomically, so the consistency argument in cache.ts holds for several
// frontends sharing one Redis. No plain GET/SET ever touches an entry.
//
// Keys (one hash tag, so a Redis Cluster keeps them in one slot), always passed in this order:
//   KEYS[1] entries  HASH  name -> JSON StockView
//   KEYS[2] lru      ZSET  name -> tick of its last use (lowest = least recently used)
//   KEYS[3] floors   HASH  name -> highest version named by an invalidation
//   KEYS[4] drops    HASH  name -> number of drop() calls
//   KEYS[5] meta     HASH  epoch -> token, tick -> use counter
// Invariant: entries and lru hold the same names; every script that removes one removes both.
//
// CACHE_SIZE is enforced here, exactly, by the fill script: Redis' own eviction
// (maxmemory-policy allkeys-lru) counts bytes, not entries, samples keys approximately, and
// could evict the floors or the epoch, which would break the version checks. So the Redis
// server needs no maxmemory setting for the cache; the ZSET of ticks is the LRU list.

import { createHash } from "node:crypto";

export type RedisScript = { readonly source: string; readonly sha1: string };

function script(body: string): RedisScript {
  const source = `${prelude}\n${body}`;
  return { source, sha1: createHash("sha1").update(source).digest("hex") };
}

// A Redis that restarted empty has no epoch: the first script installs the caller's fresh
// random token, so a ticket taken before the restart can never match again (cache.ts, case 7).
const prelude = `
local entries, lru, floors, drops, meta = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local function current_epoch(fresh)
  local epoch = redis.call('HGET', meta, 'epoch')
  if not epoch then
    redis.call('HSET', meta, 'epoch', fresh)
    epoch = fresh
  end
  return epoch
end
local function touch(name)
  redis.call('ZADD', lru, redis.call('HINCRBY', meta, 'tick', 1), name)
end
local function entry_version(name)
  local json = redis.call('HGET', entries, name)
  if not json then return nil end
  return tonumber(cjson.decode(json).version)
end
local function remove(name)
  redis.call('HDEL', entries, name)
  redis.call('ZREM', lru, name)
end
-- Forgetting floors or drops is safe only together with a new epoch (cache.ts, case 6).
local function bound_tracking(max, fresh)
  if redis.call('HLEN', floors) <= max and redis.call('HLEN', drops) <= max then return 0 end
  redis.call('DEL', floors, drops)
  redis.call('HSET', meta, 'epoch', fresh)
  return 1
end
`;

/** ARGV: name, fresh epoch. Returns {1, json} on a hit (and marks it used), {0, drops, epoch} on a miss. */
export const getScript = script(`
local epoch = current_epoch(ARGV[2])
local json = redis.call('HGET', entries, ARGV[1])
if json then
  touch(ARGV[1])
  return {1, json}
end
return {0, redis.call('HGET', drops, ARGV[1]) or '0', epoch}
`);

/**
 * ARGV: name, version, json, ticket drops, ticket epoch, capacity, fresh epoch.
 * Returns {outcome} or {'filled', evicted names...}; evicts least recently used down to capacity.
 */
export const fillScript = script(`
local name, version, capacity = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[6])
if current_epoch(ARGV[7]) ~= ARGV[5] then return {'cleared'} end
if (redis.call('HGET', drops, name) or '0') ~= ARGV[4] then return {'dropped'} end
if version < tonumber(redis.call('HGET', floors, name) or '0') then return {'stale'} end
local current = entry_version(name)
if current and current >= version then return {'kept'} end
redis.call('HSET', entries, name, ARGV[3])
touch(name)
local result = {'filled'}
local over = redis.call('ZCARD', lru) - capacity
if over > 0 then
  local popped = redis.call('ZPOPMIN', lru, over)
  for i = 1, #popped, 2 do
    redis.call('HDEL', entries, popped[i])
    result[#result + 1] = popped[i]
  end
end
return result
`);

/** ARGV: name, version, fresh epoch, tracked names max. Returns {removed 0/1, reset 0/1}. */
export const invalidateScript = script(`
local name, version = ARGV[1], tonumber(ARGV[2])
current_epoch(ARGV[3])
if version > tonumber(redis.call('HGET', floors, name) or '0') then
  redis.call('HSET', floors, name, ARGV[2])
end
local removed = 0
local current = entry_version(name)
if current and current < version then
  remove(name)
  removed = 1
end
return {removed, bound_tracking(tonumber(ARGV[4]), ARGV[3])}
`);

/** ARGV: name, fresh epoch, tracked names max. Returns reset 0/1. */
export const dropScript = script(`
current_epoch(ARGV[2])
redis.call('HINCRBY', drops, ARGV[1], 1)
remove(ARGV[1])
return bound_tracking(tonumber(ARGV[3]), ARGV[2])
`);

/** ARGV: fresh epoch. Empties the cache and its bookkeeping; every earlier ticket is refused. */
export const clearScript = script(`
redis.call('DEL', entries, lru, floors, drops)
redis.call('HSET', meta, 'epoch', ARGV[1])
return 1
`);
