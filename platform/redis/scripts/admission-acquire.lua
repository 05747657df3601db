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
--   KEYS[2]  the quota hash of the period (counters as integers), when there are quota levels
--   KEYS[#KEYS]  a sorted-set sliding window (member lease id, score time) for a burst too
--            large for a ring, when there is one (after the quota hash)
-- Housekeeping (when 'n' is due, or the hash is new) drops expired leases (decrementing
-- their counters), buckets and rings idle for a horizon (a full bucket and an empty window
-- are the same as none), and renews the hash's expiry. Between housekeepings no lease has
-- expired, so counters are exact without looking at any lease.
--
-- Every value that crosses between Redis and Lua costs Redis CPU (docs/performance.md), so
-- the arguments are few: the constants of a call travel in one binary spec, and numbers
-- written back are formatted as integers ('%d': the default '%.17g' costs several times more).
-- ARGV[1]   now in ms ('' = the Redis server clock, so gateways need no clock sync)
-- ARGV[2]   the lease field, 'l:<lease id>' (unique per call): the call's lease record; the
--           id alone is its sliding-window member
-- ARGV[3]   the spec's struct format: "<Bdddd" followed by "Bdd" per level (sent along
--           because building it here costs more than the argument)
-- ARGV[4]   the spec (binary: one struct.unpack reads it in C):
--           header = levels in the admission hash (they come first; quotas follow),
--           lease TTL ms (a crashed gateway's leases expire after it), housekeeping
--           horizon ms (at least the longest bucket period and window), expiry of the
--           admission hash ms (set by housekeeping), TTL ms of the quota hash;
--           then per level: kind, limit, p
-- ARGV[5..] one field per level, in order ('' for a sorted-set window)
--   kind    1 bucket | 2 ring window | 3 sorted-set window | 4 concurrency |
--           5 quota, blocking | 6 quota, soft | 7 quota, overage (soft and overage admit past the limit)
--   limit   bucket: calls per period (also the bucket size); window: calls per window;
--           concurrency: concurrent calls; quota: calls per period
--   p       bucket: refill period ms; window: window ms; quota: ms until it resets (the
--           retry hint); concurrency: unused
--
-- returns admitted: { 1, remaining of the first level (the per-key rate), bitmask of quota
--                    levels admitted past their limit }
--         refused:  { 0, refusing level (1-based), its limit, its remaining, retryAfterMs }
-- (few values: each one the reply carries is converted twice, in Redis and in the client)

local call, unpackBin, packBin, tonumber, floor, max, format = redis.call, struct.unpack, struct.pack, tonumber, math.floor, math.max, string.format
local now
if ARGV[1] == '' then
  local t = call('TIME')
  now = t[1] * 1000 + floor(t[2] / 1000)
else
  now = tonumber(ARGV[1])
end
local leaseField = ARGV[2]
local spec = ARGV[4]
local n = (#spec - 33) / 17
-- One C call unpacks every number (unpacking level by level costs twice as much).
local nums = { unpackBin(ARGV[3], spec) }
local n1, leaseTtl, horizon, hashTtl, quotaTtl = nums[1], nums[2], nums[3], nums[4], nums[5]
local hash = KEYS[1]

-- Phase 1: read, with one HMGET per hash. A call none of whose levels lives in the
-- admission hash (quotas only, or a sorted-set window first) names another key as KEYS[1]:
-- it must neither read it as the admission hash nor housekeep it.
local h = {}
if n1 > 0 and ARGV[5] ~= '' then
  h = call('HMGET', hash, 'n', leaseField, unpack(ARGV, 5, 4 + n1))
  if not h[1] or h[1] + 0 <= now then
    -- Housekeeping. Written inline: as a local function it would be a closure (with its
    -- upvalues) built on every call, for the rare call that runs it.
    local idleBefore = now - horizon
    local due = now + horizon
    local all = call('HGETALL', hash)
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
      if left <= 0 then dead[#dead + 1] = f elseif freed[f] then call('HSET', hash, f, format('%d', left)) end
    end
    for i = 1, #dead, 1000 do call('HDEL', hash, unpack(dead, i, math.min(i + 999, #dead))) end
    call('HSET', hash, 'n', format('%d', due))
    call('PEXPIRE', hash, format('%d', hashTtl))
    h = call('HMGET', hash, 'n', leaseField, unpack(ARGV, 5, 4 + n1))
  end
end
local q = (n > n1) and call('HMGET', KEYS[2], unpack(ARGV, 5 + n1, 4 + n)) or {}
-- A retried call that still holds its lease (same lease id) is not counted twice.
local held = h[2] and string.match(h[2], '^[^|]+') + 0 > now

-- Phase 2: decide, level by level; the first refusal ends the call with nothing charged.
-- What each level would write is gathered on the way (one HSET per hash at the end).
-- Preallocated (a table grown one pair at a time is rehashed at every power of two,
-- which costs more than the decision itself); unpacked up to na / nq.
local args = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }
local quotaArgs = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }
local na, nq = 0, 0
local over, firstRemaining, windowMs, counters, longWindow = 0, 0, 0, '', 0
for i = 1, n do
  local at = 3 * i + 3
  local kind, limit, p1 = nums[at], nums[at + 1], nums[at + 2]
  local field = ARGV[4 + i]
  local ok, remaining, retry = true, 0, 0

  if kind == 1 then
    local v = h[i + 2]
    local rate = limit / p1
    local tokens, ts = limit, now
    if v then tokens, ts = unpackBin('<dd', v) end
    -- Inline arithmetic, not math.min/max/floor: each C call costs more than the sum.
    if now > ts then tokens = tokens + (now - ts) * rate end
    if tokens > limit then tokens = limit end
    if limit <= 0 or tokens < 1 then
      ok = false
      retry = (limit <= 0) and p1 or math.ceil((1 - tokens) / rate)
    end
    args[na + 1] = field
    args[na + 2] = packBin('<dd', tokens - 1, now)
    na = na + 2
    remaining = tokens - tokens % 1 - 1

  elseif kind == 2 then
    -- Entries at or before now - window have left it; drop them from the front.
    local v = h[i + 2] or ''
    local from, edge = 1, now - p1
    while from < #v and unpackBin('<d', v, from) <= edge do from = from + 8 end
    local count = (#v - from + 1) / 8
    if count >= limit then
      ok = false
      -- The call that must leave the window before one more fits (limit may have shrunk).
      retry = (limit <= 0) and p1 or math.max(1, struct.unpack('<d', v, from + (count - limit) * 8) + p1 - now)
    end
    args[na + 1] = field
    args[na + 2] = string.sub(v, from) .. packBin('<d', now)
    na = na + 2
    -- A window longer than a minute may outlive the expiry housekeeping last set.
    if p1 > 60000 then longWindow = math.max(longWindow, p1) end
    remaining = limit - count - 1

  elseif kind == 3 then
    local count = call('ZCOUNT', KEYS[#KEYS], '(' .. (now - p1), '+inf')
    if count >= limit then
      ok = false
      local oldest = call('ZRANGEBYSCORE', KEYS[#KEYS], '(' .. (now - p1), '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
      retry = oldest[2] and math.max(1, tonumber(oldest[2]) + p1 - now) or p1
    end
    windowMs = p1
    remaining = limit - count - 1

  elseif kind == 4 then
    local count = (h[i + 2] or 0) + 0
    -- A retry that holds its lease already (same call id) takes no new slot.
    if count >= limit and not held then ok = false; retry = 1000 end
    if not held then
      args[na + 1] = field
      args[na + 2] = format('%d', count + 1)
      na = na + 2
    end
    counters = counters .. '|' .. field
    remaining = limit - count - 1

  else
    local used = (q[i - n1] or 0) + 0
    if used >= limit then
      if kind == 5 then
        ok = false
        retry = p1
      else
        over = over + 2 ^ (i - 1)
      end
    end
    quotaArgs[nq + 1] = field
    quotaArgs[nq + 2] = format('%d', used + 1)
    nq = nq + 2
    remaining = limit - used - 1
  end

  if not ok then
    return { 0, i, limit, max(0, remaining + 1), max(1, retry) }
  end
  if i == 1 then firstRemaining = remaining end
end

-- Phase 3: every level admitted; charge them all.
if counters ~= '' then
  local expiry = now + leaseTtl
  args[na + 1] = leaseField
  args[na + 2] = format('%d', expiry) .. counters
  na = na + 2
  -- Housekeeping must come by the time this lease can expire.
  if expiry < h[1] + 0 then
    args[na + 1] = 'n'
    args[na + 2] = format('%d', expiry)
    na = na + 2
  end
end
if na > 0 then call('HSET', hash, unpack(args, 1, na)) end
if longWindow > 0 then call('PEXPIRE', hash, format('%d', 2 * longWindow + leaseTtl + 1000), 'GT') end
if windowMs > 0 then
  local zset = KEYS[#KEYS]
  call('ZREMRANGEBYSCORE', zset, '-inf', format('%d', now - windowMs))
  call('ZADD', zset, format('%d', now), string.sub(leaseField, 3))
  call('PEXPIRE', zset, format('%d', windowMs + 1000))
end
if nq > 0 then
  -- A quota hash gets its expiry when a new field (the first call of a day, or of the
  -- period) appears: it lives until a day after its period ends.
  if call('HSET', KEYS[2], unpack(quotaArgs, 1, nq)) > 0 then call('PEXPIRE', KEYS[2], format('%d', quotaTtl)) end
end

return { 1, max(0, firstRemaining), over }
