-- Token bucket for one API key's calls per minute. One round trip decides and charges.
-- KEYS[1]  tg:{org}:rl:key:<keyId>:m   hash { tokens, ts }
-- ARGV[1]  capacity (calls per minute; also the bucket size)
-- ARGV[2]  nowMs ('' = use the Redis server clock, so gateways need no clock sync)
-- returns  { admitted 0|1, remaining, retryAfterMs, limit }
local capacity = tonumber(ARGV[1])
local now
if ARGV[2] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
else
  now = tonumber(ARGV[2])
end
if capacity <= 0 then
  return { 0, 0, 60000, capacity }
end
local rate = capacity / 60000 -- tokens per millisecond
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil then
  tokens = capacity
  ts = now
end
tokens = math.min(capacity, tokens + math.max(0, now - ts) * rate)
local admitted = 0
local retry = 0
if tokens >= 1 then
  tokens = tokens - 1
  admitted = 1
else
  retry = math.ceil((1 - tokens) / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', now)
-- The bucket refills completely within a minute; let idle keys expire.
redis.call('PEXPIRE', KEYS[1], 60000 + 1000)
return { admitted, math.floor(tokens), retry, capacity }
