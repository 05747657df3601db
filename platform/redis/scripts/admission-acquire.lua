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
--            counted rings  a larger burst's window: packed '<d' (calls in it), then one
--                         '<dd' (calls, time) per slot with admissions, oldest first; a slot
--                         is a hundredth of the window, and its calls are logged at its end
--                         (at most 100 slots + 1: a few KB, whatever the burst)
--            counters     concurrency: how many live leases name the field
--            'l:<lease>'  a call's lease: "<expiry ms>|<counter field>|..." (the counters it holds)
--            'n'          when housekeeping is due next: the earliest lease expiry, at most
--                         a horizon from the last housekeeping
--   KEYS[2]  the quota hash of the period (counters as integers), when there are quota levels
-- Housekeeping (when 'n' is due, or the hash is new) drops expired leases (decrementing
-- their counters), buckets and rings idle for a horizon (a full bucket and an empty window
-- are the same as none), and renews the hash's expiry. Between housekeepings no lease has
-- expired, so counters are exact without looking at any lease.
--
-- Several calls of one shape (same levels, keys and fields: one API key, IP and tool group)
-- may be decided in one script call (the gateway gathers those that arrive together): the
-- state is read once, the calls are decided one after another in that order, each seeing
-- what the ones before it charged, and the state is written once. The outcome is the same
-- as that of the calls sent one at a time in that order at the same instant.
--
-- Every value that crosses between Redis and Lua costs Redis CPU (docs/performance.md), so
-- the arguments are few: the constants of a call travel in one binary spec, and numbers
-- written back are formatted as integers ('%d': the default '%.17g' costs several times more).
-- ARGV[1]   now in ms ('' = the Redis server clock, so gateways need no clock sync)
-- ARGV[2]   the spec's struct format: "<Bdddd" followed by "Bdd" per level (sent along
--           because building it here costs more than the argument)
-- ARGV[3]   the spec (binary: one struct.unpack reads it in C):
--           header = levels in the admission hash (they come first; quotas follow),
--           lease TTL ms (a crashed gateway's leases expire after it), housekeeping
--           horizon ms (at least the longest bucket period and window), expiry of the
--           admission hash ms (set by housekeeping), TTL ms of the quota hash;
--           then per level: kind, limit, p
-- ARGV[4]   r: how many ended calls this script call also releases (below)
-- ARGV[5 .. 4+r]  releases carried along (the gateway sends the successful calls of the
--           organization that ended in the same event-loop turn with its next decision,
--           rather than as a script call of their own): their lease fields 'l:<lease id>'.
--           Each drops its lease record and frees the concurrency slots it holds, before
--           the calls here are decided (they ended first). Only with levels in the
--           admission hash (KEYS[1] is then the organization's admission hash).
-- ARGV[5+r .. 4+r+m]  one lease field per call, 'l:<lease id>' (unique per call): the
--           call's lease record
-- ARGV[5+r+m ..]  one field per level, in order
--   kind    1 bucket | 2 ring window | 3 counted-ring window | 4 concurrency |
--           5 quota, blocking | 6 quota, soft | 7 quota, overage (soft and overage admit past the limit)
--   limit   bucket: calls per period (also the bucket size); window: calls per window;
--           concurrency: concurrent calls; quota: calls per period
--   p       bucket: refill period ms; window: window ms; quota: ms until it resets (the
--           retry hint); concurrency: unused
--
-- returns, for each call in order, one after another in a flat list:
--   admitted: 1, remaining of the first level (the per-key rate), bitmask of quota levels
--             admitted past their limit
--   refused:  0, refusing level (1-based), its limit, its remaining, retryAfterMs
-- and then, when r > 0, how many of the released leases were live (not expired) when released
-- (few values: each one the reply carries is converted twice, in Redis and in the client)

local call, unpackBin, packBin, floor, max, format = redis.call, struct.unpack, struct.pack, math.floor, math.max, string.format
local argv = ARGV
local now
if argv[1] == '' then
  local t = call('TIME')
  now = t[1] * 1000 + floor(t[2] / 1000)
else
  now = argv[1] + 0
end
local spec = argv[3]
local n = (#spec - 33) / 17
-- One C call unpacks every number (unpacking level by level costs twice as much).
local nums = { unpackBin(argv[2], spec) }
local n1, leaseTtl, horizon, hashTtl, quotaTtl = nums[1], nums[2], nums[3], nums[4], nums[5]
local r = argv[4] + 0
local m = #argv - 4 - r - n
local c0 = 4 + r -- argv[c0 + j] is call j's lease field
local f0 = c0 + m -- argv[f0 + i] is level i's field
-- h[1] is 'n', h[1 + k] release k's lease record, h[1 + r + j] call j's, h[m1 + i] level i's value
local m1 = 1 + r + m
local hash = KEYS[1]

-- Phase 1: read, with one HMGET per hash: 'n', the calls' lease records, the levels' fields.
-- A call none of whose levels lives in the admission hash (quotas only) names the quota
-- hash as KEYS[1]: it must neither read it as the admission hash nor housekeep it.
local h = {}
if n1 > 0 then
  h = call('HMGET', hash, 'n', unpack(argv, 5, f0 + n1))
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
    h = call('HMGET', hash, 'n', unpack(argv, 5, f0 + n1))
  end
elseif r > 0 then
  return redis.error_reply('ERR releases ride only with levels in the admission hash')
end
local q = (n > n1) and call('HMGET', KEYS[2], unpack(argv, f0 + n1 + 1, f0 + n)) or {}

-- Phase 1b: the releases carried along. A lease record that is gone (released before, or
-- dropped by housekeeping once expired) frees nothing; an expired one still frees its slots
-- (the counters count it until it is dropped) but is not live.
local freed, gone, live = nil, nil, 0
if r > 0 then
  freed, gone = {}, {}
  local released = {} -- lease field -> true, each released once
  for k = 1, r do
    local record, field = h[1 + k], argv[4 + k]
    if record and not released[field] then
      released[field] = true
      gone[#gone + 1] = field
      for counter in string.gmatch(record, '|([^|]+)') do freed[counter] = (freed[counter] or 0) + 1 end
      if string.match(record, '^[^|]+') + 0 > now then live = live + 1 end
    end
  end
  -- A call decided here under a released lease id holds no lease any more.
  for j = 1, m do
    if released[argv[c0 + j]] then h[1 + r + j] = false end
  end
end

-- Phase 2a: read every level's state as of now, into v[i]: a bucket's tokens refilled to
-- now, a window's, a concurrency level's or a quota's count (a ring's entries still inside
-- its window replace its value in h, with its count ahead for a counted ring).
-- Preallocated (a table grown one entry at a time is rehashed at every power of two,
-- which costs more than the decision itself).
local v = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }
local counters = '' -- '|<field>' of every concurrency level: what a lease record holds
local dirty = (r > 0) and {} or nil -- dirty[i]: a release freed slots of level i (write it back)
for i = 1, n do
  local at = 3 * i + 3
  local kind = nums[at]
  if kind == 1 then
    local s = h[m1 + i]
    local limit = nums[at + 1]
    local tokens = limit
    if s then
      local ts
      tokens, ts = unpackBin('<dd', s)
      -- Inline arithmetic, not math.min/max/floor: each C call costs more than the sum.
      if now > ts then tokens = tokens + (now - ts) * (limit / nums[at + 2]) end
      if tokens > limit then tokens = limit end
    end
    v[i] = tokens
  elseif kind == 2 then
    -- Entries at or before now - window have left it; drop them from the front.
    local s = h[m1 + i] or ''
    local from, edge = 1, now - nums[at + 2]
    while from < #s and unpackBin('<d', s, from) <= edge do from = from + 8 end
    if from > 1 then s = string.sub(s, from) end
    h[m1 + i] = s
    v[i] = #s / 8
  elseif kind == 3 then
    -- The slots at or before now - window have left it; drop them from the front. h keeps
    -- the slots still inside (the count goes back in front of them when written).
    local s = h[m1 + i] or ''
    local count, from, size = 0, 9, #s
    if size > 0 then
      local edge = now - nums[at + 2]
      count = unpackBin('<d', s)
      while from < size do
        local calls, t = unpackBin('<dd', s, from)
        if t > edge then break end
        count = count - calls
        from = from + 16
      end
    end
    h[m1 + i] = string.sub(s, from)
    v[i] = count
  elseif kind == 4 then
    local field = argv[f0 + i]
    v[i] = (h[m1 + i] or 0) + 0
    if freed and freed[field] then
      v[i] = v[i] - freed[field]
      freed[field] = nil
      dirty[i] = true
    end
    counters = counters .. '|' .. field
  else
    v[i] = (q[i - n1] or 0) + 0
  end
end

-- Phase 2b: can every call be admitted? Under load the gateway batches calls far from any
-- limit, and then one pass over the levels decides the whole batch instead of one per call
-- (the outcome is the same: call j, with the j - 1 before it admitted, passes every level
-- exactly when the last call does). A retry that holds its lease (the same lease id, live,
-- or earlier in this batch) takes no new concurrency slot.
local reply = { 0, 0, 0, 0, 0 }
local nr, admitted, fresh = 0, 0, 0
-- held[j]: call j holds its lease already (only kept for a batch: a lone call needs no count before it)
local held = (m > 1) and { false, false, false, false, false, false, false, false } or nil
local seen = held and {}
for j = 1, m do
  local leaseField = argv[c0 + j]
  local record = h[1 + r + j]
  local isHeld = (seen and seen[leaseField]) or (record and string.match(record, '^[^|]+') + 0 > now) or false
  if seen then
    seen[leaseField] = true
    held[j] = isHeld
  end
  if not isHeld then fresh = fresh + 1 end
end
local all, softOver = true, false
for i = 1, n do
  local at = 3 * i + 3
  local kind, limit, x = nums[at], nums[at + 1], v[i]
  if kind == 1 then
    if limit <= 0 or x - (m - 1) < 1 then all = false break end
  elseif kind == 4 then
    if fresh > 0 and x + (fresh - 1) >= limit then all = false break end
  elseif x + (m - 1) >= limit then
    -- Windows and blocking quotas refuse; soft and overage quotas admit past the limit.
    if kind <= 5 then all = false break end
    softOver = true
  end
end

if all then
  local kind1, limit1, v1 = nums[6], nums[7], v[1]
  local freshBefore = 0
  for j = 1, m do
    local a = j - 1
    local first
    if kind1 == 1 then
      local x = v1 - a
      first = x - x % 1 - 1
    else
      if kind1 == 4 then a = freshBefore end
      first = limit1 - (v1 + a) - 1
    end
    -- Soft and overage quotas: the calls from the one that reaches the limit on are admitted past it.
    local over = 0
    if softOver then
      for i = n1 + 1, n do
        if nums[3 * i + 3] >= 6 and v[i] + (j - 1) >= nums[3 * i + 4] then over = over + 2 ^ (i - 1) end
      end
    end
    reply[nr + 1], reply[nr + 2], reply[nr + 3] = 1, max(0, first), over
    nr = nr + 3
    if held and not held[j] then freshBefore = freshBefore + 1 end
  end
  admitted = m
else
  -- Phase 2c: decide the calls one by one, in order. A call is checked level by level; the
  -- first refusal ends it with nothing charged. The calls admitted before one are charged to
  -- it through two counts rather than by rewriting v: `admitted` (every level) and `fresh`
  -- (those that took a new concurrency slot).
  fresh = 0
  local taken = (m > 1) and {} or nil -- lease fields admitted earlier in this script call
  for j = 1, m do
    local leaseField = argv[c0 + j]
    local record = h[1 + r + j]
    local isHeld = (taken and taken[leaseField]) or (record and string.match(record, '^[^|]+') + 0 > now)
    local over, first, refusedAt, refusedLimit, refusedRemaining, retry = 0, 0, 0, 0, 0, 0
    for i = 1, n do
      local at = 3 * i + 3
      local kind, limit, p = nums[at], nums[at + 1], nums[at + 2]
      local ok, remaining = true, 0
      if kind == 1 then
        local x = v[i] - admitted
        if limit <= 0 or x < 1 then
          ok = false
          retry = (limit <= 0) and p or math.ceil((1 - x) / (limit / p))
        end
        remaining = x - x % 1 - 1
      elseif kind <= 3 then
        local x = v[i] + admitted
        if x >= limit then
          ok = false
          if limit <= 0 then
            retry = p
          else
            -- The call that must leave the window before one more fits (limit may have
            -- shrunk): the (k+1)th oldest, stored or admitted in this script call (logged
            -- at now, or at the end of now's slot in a counted ring).
            local k = x - limit
            local leaves
            if k >= v[i] then
              local slot = math.ceil(p / 100)
              leaves = (kind == 2) and now or now + (slot - now % slot) % slot
            elseif kind == 2 then
              leaves = unpackBin('<d', h[m1 + i], k * 8 + 1)
            else
              local s, from, seen = h[m1 + i], 1, 0
              repeat
                local calls
                calls, leaves = unpackBin('<dd', s, from)
                seen = seen + calls
                from = from + 16
              until seen > k
            end
            retry = max(1, leaves + p - now)
          end
        end
        remaining = limit - x - 1
      elseif kind == 4 then
        local x = v[i] + fresh
        -- A retry that holds its lease already (same call id) takes no new slot.
        if x >= limit and not isHeld then
          ok = false
          retry = 1000
        end
        remaining = limit - x - 1
      else
        local x = v[i] + admitted
        if x >= limit then
          if kind == 5 then
            ok = false
            retry = p
          else
            over = over + 2 ^ (i - 1)
          end
        end
        remaining = limit - x - 1
      end
      if not ok then
        refusedAt, refusedLimit, refusedRemaining = i, limit, remaining
        break
      end
      if i == 1 then first = remaining end
    end

    if refusedAt > 0 then
      reply[nr + 1], reply[nr + 2], reply[nr + 3], reply[nr + 4], reply[nr + 5] = 0, refusedAt, refusedLimit, max(0, refusedRemaining + 1), max(1, retry)
      nr = nr + 5
    else
      admitted = admitted + 1
      if not isHeld then fresh = fresh + 1 end
      if taken then taken[leaseField] = true end
      reply[nr + 1], reply[nr + 2], reply[nr + 3] = 1, max(0, first), over
      nr = nr + 3
    end
  end
end
if r > 0 then
  reply[nr + 1] = live
  nr = nr + 1
end
-- The reply ends at its first nil: the rest of the preallocated table is not part of it.
reply[nr + 1] = nil
if r > 0 then
  if #gone > 0 then call('HDEL', hash, unpack(gone)) end
  -- Slots of concurrency levels this call does not decide (another user's, say).
  for counter, count in pairs(freed) do call('HINCRBY', hash, counter, -count) end
end
if admitted == 0 and not (dirty and next(dirty)) then return reply end

-- Phase 3: write what the admitted calls charged (and the slots the releases freed), with
-- one HSET per hash.
local args = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }
local na, longWindow = 0, 0
for i = 1, n1 do
  local at = 3 * i + 3
  local kind = nums[at]
  if kind == 4 then
    if fresh > 0 or (dirty and dirty[i]) then
      args[na + 1], args[na + 2] = argv[f0 + i], format('%d', v[i] + fresh)
      na = na + 2
    end
  elseif admitted == 0 then -- only released slots to write
  elseif kind == 1 then
    args[na + 1], args[na + 2] = argv[f0 + i], packBin('<dd', v[i] - admitted, now)
    na = na + 2
  elseif kind == 2 or kind == 3 then
    local p = nums[at + 2]
    local s = h[m1 + i]
    if kind == 2 then
      local added = packBin('<d', now)
      if admitted > 1 then added = string.rep(added, admitted) end
      s = s .. added
    else
      -- The calls join the slot of now's end, or the last slot when it is as late or later
      -- (a clock that stepped back: logged later, which is cautious, never over).
      local slot = math.ceil(p / 100)
      local t, size = now + (slot - now % slot) % slot, #s
      local last = (size > 0) and unpackBin('<d', s, size - 7) or -1
      if t <= last then
        s = string.sub(s, 1, size - 16) .. packBin('<dd', unpackBin('<d', s, size - 15) + admitted, last)
      else
        s = s .. packBin('<dd', admitted, t)
      end
      s = packBin('<d', v[i] + admitted) .. s
    end
    args[na + 1], args[na + 2] = argv[f0 + i], s
    na = na + 2
    -- A window longer than a minute may outlive the expiry housekeeping last set.
    if p > 60000 and p > longWindow then longWindow = p end
  end
end
if counters ~= '' and admitted > 0 then
  local expiry = now + leaseTtl
  local record = format('%d', expiry) .. counters
  -- One lease record per admitted call (its reply starts with 1).
  local at = 1
  for j = 1, m do
    if reply[at] == 1 then
      args[na + 1], args[na + 2] = argv[c0 + j], record
      na = na + 2
      at = at + 3
    else
      at = at + 5
    end
  end
  -- Housekeeping must come by the time these leases can expire.
  if h[1] and expiry < h[1] + 0 then
    args[na + 1], args[na + 2] = 'n', format('%d', expiry)
    na = na + 2
  end
end
if na > 0 then call('HSET', hash, unpack(args, 1, na)) end
if longWindow > 0 then call('PEXPIRE', hash, format('%d', 2 * longWindow + leaseTtl + 1000), 'GT') end
if n > n1 and admitted > 0 then
  local quotaArgs = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }
  local nq = 0
  for i = n1 + 1, n do
    quotaArgs[nq + 1], quotaArgs[nq + 2] = argv[f0 + i], format('%d', v[i] + admitted)
    nq = nq + 2
  end
  -- A quota hash gets its expiry when a new field (the first call of a day, or of the
  -- period) appears: it lives until a day after its period ends.
  if call('HSET', KEYS[2], unpack(quotaArgs, 1, nq)) > 0 then call('PEXPIRE', KEYS[2], format('%d', quotaTtl)) end
end

return reply
