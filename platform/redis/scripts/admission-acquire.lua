-- Admission: decide every level of one call, then charge all of them or none.
-- One call, one Redis Cluster slot: every key carries the organization's hash tag.
--
-- KEYS      the distinct keys the levels use (levels refer to them by index)
-- ARGV[1]   now in ms ('' = the Redis server clock, so gateways need no clock sync)
-- ARGV[2]   lease id (unique per call): sliding-window member and concurrency lease
-- ARGV[3]   lease TTL in ms (a crashed gateway's leases expire after it)
-- ARGV[4]   the levels, packed: per level struct "<BBdddBB" = kind, keyIndex, limit, p1, p2,
--           policy, fieldIndex (binary: struct.unpack reads it in C, ~8x cheaper than JSON)
-- ARGV[5..] the quota fields the levels name by fieldIndex (1 = ARGV[5])
--   kind    1 bucket | 2 window | 3 lease | 4 quota
--   limit   bucket: calls per period (also the bucket size); window: calls per window;
--           lease: concurrent calls; quota: calls per period
--   p1      bucket: refill period ms; window: window ms; quota: TTL ms of its hash; lease: unused
--   p2      quota: ms until the quota resets (the retry hint); others unused
--   policy  quota: 1 block | 2 soft | 3 overage (soft and overage admit past the limit)
--   field   bucket or quota: its field in a hash shared with other levels; 0 = a key of its own
--
-- Storage: a bucket is "tokens:ts", in a hash field (the buckets of one organization and
-- tier share a hash: one read, one write) or in a string key of its own (per-IP buckets,
-- whose number has no bound); a window and a lease set are sorted sets (member = lease id,
-- score = time / expiry); quota counters are hash fields (one hash per period).
--
-- returns { admitted 0|1, refusing level (1-based, 0 if none), limit, remaining,
--           retryAfterMs, bitmask of quota levels admitted past their limit }
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
-- Parallel arrays, not a table per level: table creation is a large share of a small budget.
local packed = ARGV[4]
local n = #packed / 28
local kinds, keys, limits, p1s, p2s, policies, fields = {}, {}, {}, {}, {}, {}, {}
local pos, field = 1, 0
for i = 1, n do
  kinds[i], keys[i], limits[i], p1s[i], p2s[i], policies[i], field, pos = struct.unpack('<BBdddBB', packed, pos)
  if field > 0 then fields[i] = ARGV[4 + field] end
end

-- Phase 1: read. String buckets in one MGET, each hash (buckets, quotas) in one HMGET.
local stringKeys, stringAt = {}, {}
local hashFields, hashAt = {}, {}
for i = 1, n do
  local f = fields[i]
  if f then
    local k = keys[i]
    if not hashFields[k] then hashFields[k] = {}; hashAt[k] = {} end
    hashFields[k][#hashFields[k] + 1] = f
    hashAt[k][#hashAt[k] + 1] = i
  elseif kinds[i] == 1 then
    stringKeys[#stringKeys + 1] = KEYS[keys[i]]
    stringAt[#stringAt + 1] = i
  end
end
local values = {}
if #stringKeys > 0 then
  local got = redis.call('MGET', unpack(stringKeys))
  for j = 1, #stringAt do values[stringAt[j]] = got[j] end
end
for k, fields in pairs(hashFields) do
  local got = redis.call('HMGET', KEYS[k], unpack(fields))
  for j = 1, #fields do values[hashAt[k][j]] = got[j] end
end

-- Phase 2: decide, level by level; the first refusal ends the call with nothing charged.
local over, firstRemaining = 0, 0
for i = 1, n do
  local kind, key, limit, p1 = kinds[i], KEYS[keys[i]], limits[i], p1s[i]
  local ok, remaining, retry = true, 0, 0

  if kind == 1 then
    local rate = limit / p1
    local tokens, ts = limit, now
    local v = values[i]
    if v then
      local sep = string.find(v, ':', 1, true)
      tokens = tonumber(string.sub(v, 1, sep - 1))
      ts = tonumber(string.sub(v, sep + 1))
    end
    tokens = math.min(limit, tokens + math.max(0, now - ts) * rate)
    values[i] = (tokens - 1) .. ':' .. now
    if limit <= 0 or tokens < 1 then
      ok = false
      retry = (limit <= 0) and p1 or math.ceil((1 - tokens) / rate)
    end
    remaining = math.floor(tokens) - 1

  elseif kind == 2 then
    local count = redis.call('ZCOUNT', key, '(' .. (now - p1), '+inf')
    if count >= limit then
      ok = false
      local oldest = redis.call('ZRANGEBYSCORE', key, '(' .. (now - p1), '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
      retry = oldest[2] and math.max(1, tonumber(oldest[2]) + p1 - now) or p1
    end
    remaining = limit - count - 1

  elseif kind == 3 then
    -- Expired leases still in the set are not counted (release and renew prune them).
    local count = redis.call('ZCOUNT', key, '(' .. now, '+inf')
    if count >= limit then ok = false; retry = 1000 end
    remaining = limit - count - 1

  else
    local used = tonumber(values[i] or '0')
    if used >= limit then
      if policies[i] == 1 then
        ok = false
        retry = p2s[i]
      else
        over = over + 2 ^ (i - 1)
      end
    end
    values[i] = used + 1
    remaining = limit - used - 1
  end

  if not ok then
    return { 0, i, limit, math.max(0, remaining + 1), math.max(1, retry), 0 }
  end
  if i == 1 then firstRemaining = remaining end
end

-- Phase 3: every level admitted; charge them all.
for i = 1, n do
  local kind, key = kinds[i], KEYS[keys[i]]
  if kind == 1 and not fields[i] then
    redis.call('SET', key, values[i], 'PX', p1s[i] + 1000)
  elseif kind == 2 then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now - p1s[i])
    redis.call('ZADD', key, now, lease)
    redis.call('PEXPIRE', key, p1s[i] + 1000)
  elseif kind == 3 then
    redis.call('ZADD', key, now + leaseTtl, lease)
    redis.call('PEXPIRE', key, leaseTtl + 1000)
  end
end
for k, fields in pairs(hashFields) do
  local args, ttl, buckets = {}, 0, false
  for j = 1, #fields do
    local i = hashAt[k][j]
    args[#args + 1] = fields[j]
    args[#args + 1] = values[i]
    if kinds[i] == 1 then
      buckets = true
      if p1s[i] + 1000 > ttl then ttl = p1s[i] + 1000 end
    elseif p1s[i] > ttl then
      ttl = p1s[i]
    end
  end
  -- A bucket hash lives a period past its last call; a quota hash gets its expiry when a
  -- new field (the first call of a day, or of the period) appears.
  if redis.call('HSET', KEYS[k], unpack(args)) > 0 or buckets then redis.call('PEXPIRE', KEYS[k], ttl) end
end

return { 1, 0, limits[1], math.max(0, firstRemaining), 0, over }
