-- Extends a running call's concurrency leases (long calls renew while they run).
-- KEYS      lease keys
-- ARGV[1]   lease id
-- ARGV[2]   new TTL in ms from now
-- ARGV[3]   now in ms ('' = Redis server clock)
-- returns   number of leases renewed (0 means they had already expired: capacity was lost)
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
  renewed = renewed + redis.call('ZADD', KEYS[i], 'XX', 'CH', now + ttl, ARGV[1])
  redis.call('PEXPIRE', KEYS[i], ttl + 1000)
end
return renewed
