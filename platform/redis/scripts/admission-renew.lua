-- Extends a running call's lease (long calls renew while they run).
-- KEYS[1]   the organization's admission hash (see admission-acquire.lua)
-- ARGV[1]   lease id
-- ARGV[2]   new TTL in ms from now
-- ARGV[3]   now in ms ('' = Redis server clock)
-- returns   1 when renewed; 0 when the lease had expired (its capacity may have gone to
--           another call; it is not revived) or is unknown
local now
if ARGV[3] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
else
  now = tonumber(ARGV[3])
end
local ttl = tonumber(ARGV[2])
local field = 'l:' .. ARGV[1]
local record = redis.call('HGET', KEYS[1], field)
if not record then return 0 end
local sep = string.find(record, '|', 1, true) or (#record + 1)
if tonumber(string.sub(record, 1, sep - 1)) <= now then return 0 end
redis.call('HSET', KEYS[1], field, (now + ttl) .. string.sub(record, sep))
-- The housekeeping due time ('n') stays as it is: an earlier due time is still correct.
if redis.call('PTTL', KEYS[1]) < ttl + 1000 then redis.call('PEXPIRE', KEYS[1], ttl + 1000) end
return 1
