-- LEGACY: leases of the layout before 2026-11 (one sorted set per lease scope). Only runs started
-- before the layout change still name such keys; delete once none can be running.
-- Ends a call: drops its concurrency leases (and any expired ones met on the way) and,
-- when the call failed, gives its quota units back (quotas count successful calls).
-- KEYS      lease set keys first, then quota hash keys
-- ARGV[1]   lease id
-- ARGV[2]   number of lease keys
-- ARGV[3]   now in ms ('' = Redis server clock)
-- ARGV[4]   JSON [[keyIndex, field], ...] of quota counters to refund ('[]' to keep the charge)
-- returns   number of leases actually released (0 when they had already expired)
-- A second release of the same call finds no lease and refunds nothing: the unit of a
-- call is given back once, however often its release is retried.
local now
if ARGV[3] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
else
  now = tonumber(ARGV[3])
end
local leases = tonumber(ARGV[2])
local released = 0
for i = 1, leases do
  -- Prune first: a lease that has already expired was not held, whether or not it is
  -- still in the set, and must not count as released (nor earn a refund).
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
  released = released + redis.call('ZREM', KEYS[i], ARGV[1])
end
if leases == 0 or released > 0 then
  for _, ref in ipairs(cjson.decode(ARGV[4])) do
    local key, field = KEYS[ref[1]], ref[2]
    if tonumber(redis.call('HGET', key, field) or '0') > 0 then redis.call('HINCRBY', key, field, -1) end
  end
end
return released
