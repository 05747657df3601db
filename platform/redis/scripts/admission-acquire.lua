-- Admission: decide every level of one call, then charge all of them or none.
-- One call, one Redis Cluster slot: every key carries the organization's hash tag.
--
-- KEYS[i]   the key of level i (i = 1..n)
-- ARGV[1]   now in ms ('' = the Redis server clock, so gateways need no clock sync)
-- ARGV[2]   lease id (unique per call): sliding-window member and concurrency lease
-- ARGV[3]   lease TTL in ms (a crashed gateway's leases expire after it)
-- ARGV[4]   n, the number of levels
-- then 5 values per level i, at ARGV[5 + (i-1)*5 ...]:
--   kind    'bucket' | 'window' | 'lease' | 'quota'
--   limit   bucket: calls per period (also the bucket size); window: calls per window;
--           lease: concurrent calls; quota: calls per period
--   p1      bucket: refill period ms; window: window ms; lease: unused; quota: key TTL ms
--   p2      quota: ms until the quota resets (the retry hint); others unused
--   policy  quota: 'block' | 'soft' | 'overage' (soft and overage admit past the limit); others 'block'
--
-- returns { admitted 0|1, refusing level (0 if none), limit, remaining, retryAfterMs,
--           bitmask of quota levels admitted past their limit (soft/overage) }
-- `remaining` is the first level's (the per-key rate) when admitted, the refusing level's otherwise.

local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
else
  now = tonumber(ARGV[1])
end
local lease = ARGV[2]
local leaseTtl = tonumber(ARGV[3])
local n = tonumber(ARGV[4])

local kinds, limits, p1s, p2s, policies, states = {}, {}, {}, {}, {}, {}
local over = 0
local firstRemaining = 0

-- Phase 1: decide. Expired window entries and leases are dropped; nothing is charged.
for i = 1, n do
  local base = 5 + (i - 1) * 5
  local kind, limit, p1, p2, policy = ARGV[base], tonumber(ARGV[base + 1]), tonumber(ARGV[base + 2]), tonumber(ARGV[base + 3]), ARGV[base + 4]
  kinds[i], limits[i], p1s[i], p2s[i], policies[i] = kind, limit, p1, p2, policy
  local key = KEYS[i]
  local ok, remaining, retry = true, 0, 0

  if kind == 'bucket' then
    local rate = limit / p1
    local s = redis.call('HMGET', key, 'tokens', 'ts')
    local tokens = tonumber(s[1])
    local ts = tonumber(s[2])
    if tokens == nil then tokens = limit; ts = now end
    tokens = math.min(limit, tokens + math.max(0, now - ts) * rate)
    states[i] = tokens
    if limit <= 0 or tokens < 1 then
      ok = false
      retry = (limit <= 0) and p1 or math.ceil((1 - tokens) / rate)
    end
    remaining = math.floor(tokens) - 1

  elseif kind == 'window' then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now - p1)
    local count = redis.call('ZCARD', key)
    if count >= limit then
      ok = false
      local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
      retry = oldest[2] and math.max(1, tonumber(oldest[2]) + p1 - now) or p1
    end
    remaining = limit - count - 1

  elseif kind == 'lease' then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
    local count = redis.call('ZCARD', key)
    if count >= limit then ok = false; retry = 1000 end
    remaining = limit - count - 1

  elseif kind == 'quota' then
    local used = tonumber(redis.call('GET', key) or '0')
    if used >= limit then
      if policy == 'block' then
        ok = false
        retry = p2
      else
        over = over + 2 ^ (i - 1)
      end
    end
    remaining = limit - used - 1
  end

  if not ok then
    return { 0, i, limit, math.max(0, remaining + 1), math.max(1, retry), 0 }
  end
  if i == 1 then firstRemaining = remaining end
end

-- Phase 2: every level admitted; charge them all.
for i = 1, n do
  local key, kind = KEYS[i], kinds[i]
  if kind == 'bucket' then
    redis.call('HSET', key, 'tokens', tostring(states[i] - 1), 'ts', now)
    redis.call('PEXPIRE', key, p1s[i] + 1000)
  elseif kind == 'window' then
    redis.call('ZADD', key, now, lease)
    redis.call('PEXPIRE', key, p1s[i] + 1000)
  elseif kind == 'lease' then
    redis.call('ZADD', key, now + leaseTtl, lease)
    redis.call('PEXPIRE', key, leaseTtl + 1000)
  elseif kind == 'quota' then
    if redis.call('INCR', key) == 1 then redis.call('PEXPIRE', key, p1s[i]) end
  end
end

return { 1, 0, limits[1], math.max(0, firstRemaining), 0, over }
