-- Leases a batch of tokens from a tier's global pool for the current second.
-- The pool key is in its own slot ({pool:<tier>}); gateways lease in batches so the hot
-- path rarely pays this second call.
-- KEYS[1]   tg:{pool:<tier>}:s:<epoch second>
-- ARGV[1]   tokens per second for the tier
-- ARGV[2]   batch size wanted
-- returns   tokens granted (0 = the pool is exhausted for this second)
local limit = tonumber(ARGV[1])
local want = tonumber(ARGV[2])
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local grant = math.min(want, limit - used)
if grant <= 0 then return 0 end
redis.call('INCRBY', KEYS[1], grant)
redis.call('PEXPIRE', KEYS[1], 2000)
return grant
