-- Admission: decide every level of one call, then charge all of them or none.
-- One call, one Redis Cluster slot: every key carries the organization's hash tag.
--
-- Storage (why: every command and every value crossing between Redis and Lua costs Redis
-- CPU, far more than the commands' own work (docs/performance.md); so one hash holds the
-- organization's whole admission state, read with one HMGET and written with one HSET):
--   KEYS[1]  the organization's admission hash:
--            buckets      packed '<dd' (tokens, last update ms)
--            rings        a small sliding-window log: packed doubles, oldest first (the
--                         burst window of a plan whose burst is at most a few dozen calls)
--            counters     concurrency: how many live leases name the field
--            'l:<lease>'  a call's lease: "<expiry ms>|<counter field>|..." (the counters it holds)
--            'n'          when housekeeping is due next: the earliest lease expiry, at most
--                         a horizon from the last housekeeping
--   KEYS[2]  the quota hash of the period (counters as integers); KEYS[1] when no quota level
--   KEYS[3]  a sorted-set sliding window (member lease id, score time) for a burst too large
--            for a ring; KEYS[1] when none
-- Housekeeping (when 'n' is due, or the hash is new) drops expired leases (decrementing
-- their counters), buckets and rings idle for a horizon (a full bucket and an empty window
-- are the same as none), and renews the hash's expiry. Between housekeepings no lease has
-- expired, so counters are exact without looking at any lease.
--
-- ARGV[1]   now in ms ('' = the Redis server clock, so gateways need no clock sync)
-- ARGV[2]   lease id (unique per call): its lease record and sliding-window member
-- ARGV[3]   lease TTL in ms (a crashed gateway's leases expire after it)
-- ARGV[4]   housekeeping horizon in ms (at least the longest bucket period and window)
-- ARGV[5]   expiry of the admission hash in ms (set by housekeeping)
-- ARGV[6]   the levels, packed: per level struct "<BdddB" = kind, limit, p1, p2, policy
--           (binary: struct.unpack reads it in C)
-- ARGV[7]   how many levels live in the admission hash (they come first; quotas follow)
-- ARGV[8..] one field per level, in order ('' for a sorted-set window)
--   kind    1 bucket | 2 ring window | 3 sorted-set window | 4 concurrency | 5 quota
--   limit   bucket: calls per period (also the bucket size); window: calls per window;
--           concurrency: concurrent calls; quota: calls per period
--   p1      bucket: refill period ms; window: window ms; quota: TTL ms of its hash
--   p2      quota: ms until the quota resets (the retry hint); others unused
--   policy  quota: 1 block | 2 soft | 3 overage (soft and overage admit past the limit)
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
local leaseField = 'l:' .. lease
local spec = ARGV[6]
local n1 = tonumber(ARGV[7])
local n = #spec / 26
local hash = KEYS[1]

local function housekeep()
  local horizon = tonumber(ARGV[4])
  local idleBefore = now - horizon
  local due = now + horizon
  local all = redis.call('HGETALL', hash)
  local counters, dead, freed = {}, {}, {}
  for i = 1, #all, 2 do
    local f, v = all[i], all[i + 1]
    local c = string.byte(f, 1)
    if c == 108 then -- 'l': a lease
      local sep = string.find(v, '|', 1, true)
      local expiry = tonumber(sep and string.sub(v, 1, sep - 1) or v)
      if expiry <= now then
        dead[#dead + 1] = f
        for counter in string.gmatch(v, '|([^|]+)') do freed[counter] = (freed[counter] or 0) + 1 end
      elseif expiry < due then
        due = expiry
      end
    elseif c == 99 then -- 'c': a concurrency counter
      counters[f] = tonumber(v)
    elseif c ~= 110 and #v >= 8 then -- a bucket or a ring: its last 8 bytes are its last update
      local last = struct.unpack('<d', v, #v - 7)
      -- A ring is judged by its own window (its name ends in ':<ms>ms'): a call of another
      -- kind (a shorter horizon) must not drop a long window's log.
      local window = (c == 119) and tonumber(string.match(f, ':(%d+)ms$')) or 0
      if last <= idleBefore and last <= now - window then dead[#dead + 1] = f end
    end
  end
  for f, count in pairs(counters) do
    local left = count - (freed[f] or 0)
    if left <= 0 then dead[#dead + 1] = f elseif freed[f] then redis.call('HSET', hash, f, left) end
  end
  for i = 1, #dead, 1000 do redis.call('HDEL', hash, unpack(dead, i, math.min(i + 999, #dead))) end
  redis.call('HSET', hash, 'n', due)
  redis.call('PEXPIRE', hash, ARGV[5])
end

-- Phase 1: read, with one HMGET per hash. A call none of whose levels lives in the
-- admission hash (quotas only, or a sorted-set window first) names another key as KEYS[1]:
-- it must neither read it as the admission hash nor housekeep it.
local h = {}
if n1 > 0 and ARGV[8] ~= '' then
  h = redis.call('HMGET', hash, 'n', leaseField, unpack(ARGV, 8, 7 + n1))
  if not h[1] or tonumber(h[1]) <= now then
    housekeep()
    h = redis.call('HMGET', hash, 'n', leaseField, unpack(ARGV, 8, 7 + n1))
  end
end
local q = (n > n1) and redis.call('HMGET', KEYS[2], unpack(ARGV, 8 + n1, 7 + n)) or {}
-- A retried call that still holds its lease (same lease id) is not counted twice.
local held = h[2] and tonumber(string.match(h[2], '^[^|]+')) > now

-- Phase 2: decide, level by level; the first refusal ends the call with nothing charged.
-- What each level would write is gathered on the way (one HSET per hash at the end).
local args, quotaArgs = {}, {}
local over, firstRemaining, windowMs, counters, quotaTtl, longWindow = 0, 0, 0, '', 0, 0
local pos = 1
for i = 1, n do
  local kind, limit, p1, p2, policy
  kind, limit, p1, p2, policy, pos = struct.unpack('<BdddB', spec, pos)
  local field = ARGV[7 + i]
  local ok, remaining, retry = true, 0, 0

  if kind == 1 then
    local v = h[i + 2]
    local rate = limit / p1
    local tokens, ts = limit, now
    if v then tokens, ts = struct.unpack('<dd', v) end
    tokens = math.min(limit, tokens + math.max(0, now - ts) * rate)
    if limit <= 0 or tokens < 1 then
      ok = false
      retry = (limit <= 0) and p1 or math.ceil((1 - tokens) / rate)
    end
    args[#args + 1] = field
    args[#args + 1] = struct.pack('<dd', tokens - 1, now)
    remaining = math.floor(tokens) - 1

  elseif kind == 2 then
    -- Entries at or before now - window have left it; drop them from the front.
    local v = h[i + 2] or ''
    local from, edge = 1, now - p1
    while from < #v and struct.unpack('<d', v, from) <= edge do from = from + 8 end
    local count = (#v - from + 1) / 8
    if count >= limit then
      ok = false
      -- The call that must leave the window before one more fits (limit may have shrunk).
      retry = (limit <= 0) and p1 or math.max(1, struct.unpack('<d', v, from + (count - limit) * 8) + p1 - now)
    end
    args[#args + 1] = field
    args[#args + 1] = string.sub(v, from) .. struct.pack('<d', now)
    -- A window longer than a minute may outlive the expiry housekeeping last set.
    if p1 > 60000 then longWindow = math.max(longWindow, p1) end
    remaining = limit - count - 1

  elseif kind == 3 then
    local count = redis.call('ZCOUNT', KEYS[3], '(' .. (now - p1), '+inf')
    if count >= limit then
      ok = false
      local oldest = redis.call('ZRANGEBYSCORE', KEYS[3], '(' .. (now - p1), '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
      retry = oldest[2] and math.max(1, tonumber(oldest[2]) + p1 - now) or p1
    end
    windowMs = p1
    remaining = limit - count - 1

  elseif kind == 4 then
    local count = tonumber(h[i + 2] or '0')
    -- A retry that holds its lease already (same call id) takes no new slot.
    if count >= limit and not held then ok = false; retry = 1000 end
    if not held then
      args[#args + 1] = field
      args[#args + 1] = count + 1
    end
    counters = counters .. '|' .. field
    remaining = limit - count - 1

  else
    local used = tonumber(q[i - n1] or '0')
    if used >= limit then
      if policy == 1 then
        ok = false
        retry = p2
      else
        over = over + 2 ^ (i - 1)
      end
    end
    quotaArgs[#quotaArgs + 1] = field
    quotaArgs[#quotaArgs + 1] = used + 1
    if p1 > quotaTtl then quotaTtl = p1 end
    remaining = limit - used - 1
  end

  if not ok then
    return { 0, i, limit, math.max(0, remaining + 1), math.max(1, retry), 0 }
  end
  if i == 1 then firstRemaining = remaining end
end

-- Phase 3: every level admitted; charge them all.
if counters ~= '' then
  local expiry = now + tonumber(ARGV[3])
  args[#args + 1] = leaseField
  args[#args + 1] = expiry .. counters
  -- Housekeeping must come by the time this lease can expire.
  if expiry < tonumber(h[1]) then
    args[#args + 1] = 'n'
    args[#args + 1] = expiry
  end
end
if #args > 0 then redis.call('HSET', hash, unpack(args)) end
if longWindow > 0 then redis.call('PEXPIRE', hash, 2 * longWindow + tonumber(ARGV[3]) + 1000, 'GT') end
if windowMs > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - windowMs)
  redis.call('ZADD', KEYS[3], now, lease)
  redis.call('PEXPIRE', KEYS[3], windowMs + 1000)
end
if #quotaArgs > 0 then
  -- A quota hash gets its expiry when a new field (the first call of a day, or of the
  -- period) appears: it lives until a day after its period ends.
  if redis.call('HSET', KEYS[2], unpack(quotaArgs)) > 0 then redis.call('PEXPIRE', KEYS[2], quotaTtl) end
end

return { 1, 0, struct.unpack('<d', spec, 2), math.max(0, firstRemaining), 0, over }
