-- Ends a call: drops its concurrency leases and, when the call failed, gives its quota
-- units back (quotas count successful calls).
-- KEYS      lease keys first, then quota keys
-- ARGV[1]   lease id
-- ARGV[2]   number of lease keys (the rest are quota keys)
-- ARGV[3]   '1' to refund the quota keys, '0' to keep the charge
-- returns   number of leases actually released (0 when they had already expired)
local leases = tonumber(ARGV[2])
local released = 0
for i = 1, leases do
  released = released + redis.call('ZREM', KEYS[i], ARGV[1])
end
if ARGV[3] == '1' then
  for i = leases + 1, #KEYS do
    local v = tonumber(redis.call('GET', KEYS[i]) or '0')
    if v > 0 then redis.call('DECR', KEYS[i]) end
  end
end
return released
