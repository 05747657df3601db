-- Ends several successful calls of one organization at once (the gateway batches the
-- releases of one event-loop turn): drops each call's lease record and decrements the
-- concurrency counters it holds. No refunds here (a failed call is released on its own,
-- by admission-release.lua, which gives its quota units back).
-- KEYS[1]   the organization's admission hash (see admission-acquire.lua)
-- ARGV[1]   now in ms ('' = Redis server clock)
-- ARGV[2..] lease ids
-- returns   how many of the leases were live when released (absent or expired ones were not)
local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
else
  now = tonumber(ARGV[1])
end
local fields, seen = {}, {}
for i = 2, #ARGV do
  local field = 'l:' .. ARGV[i]
  -- A lease named twice is released once.
  if not seen[field] then
    seen[field] = true
    fields[#fields + 1] = field
  end
end
local records = redis.call('HMGET', KEYS[1], unpack(fields))
local freed, present, live = {}, {}, 0
for i = 1, #records do
  local record = records[i]
  if record then
    present[#present + 1] = fields[i]
    for counter in string.gmatch(record, '|([^|]+)') do freed[counter] = (freed[counter] or 0) + 1 end
    if tonumber(string.match(record, '^[^|]+')) > now then live = live + 1 end
  end
end
if #present == 0 then return 0 end
for counter, n in pairs(freed) do redis.call('HINCRBY', KEYS[1], counter, -n) end
redis.call('HDEL', KEYS[1], unpack(present))
return live
