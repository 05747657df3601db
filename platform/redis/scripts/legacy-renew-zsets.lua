-- LEGACY: leases of the layout before 2026-11 (one sorted set per lease scope). Only runs started
-- before the layout change still name such keys; delete once none can be running.
-- Extends a running call's concurrency leases (long calls renew while they run).
-- KEYS      lease set keys
-- ARGV[1]   lease id
-- ARGV[2]   new TTL in ms from now
-- ARGV[3]   now in ms ('' = Redis server clock)
-- returns   number of leases renewed; fewer than KEYS means a lease had already expired
--           (its capacity may have been given to another call) and was not revived.
local now
if ARGV[3] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
else
  now = tonumber(ARGV[3])
end
local ttl = tonumber(ARGV[2])
local renewed = 0
for i = 1, #KEYS do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
  if redis.call('ZSCORE', KEYS[i], ARGV[1]) then
    redis.call('ZADD', KEYS[i], now + ttl, ARGV[1])
    redis.call('PEXPIRE', KEYS[i], ttl + 1000)
    renewed = renewed + 1
  end
end
return renewed
