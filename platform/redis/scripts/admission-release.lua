-- Ends a call: drops its lease record (decrementing the concurrency counters it holds) and,
-- when the call failed, gives its quota units back (quotas count successful calls).
-- KEYS[1]   the organization's admission hash (see admission-acquire.lua)
-- KEYS[2..] quota hashes named by the refunds
-- ARGV[1]   lease id
-- ARGV[2]   now in ms ('' = Redis server clock)
-- ARGV[3]   '1': the call holds a lease to drop; '0': no lease (a retry that joined a running
--           call gives back only its own charge), refund unconditionally
-- ARGV[4..] refunds: pairs of (index into KEYS, field) of quota counters to give back
-- returns   1 when a live lease was released, 0 otherwise (none, or already expired)
-- A second release of the same call finds no lease and refunds nothing: the unit of a
-- call is given back once, however often its release is retried.
if ARGV[3] == '1' then
  local now
  if ARGV[2] == '' then
    local t = redis.call('TIME')
    now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  else
    now = tonumber(ARGV[2])
  end
  local field = 'l:' .. ARGV[1]
  local record = redis.call('HGET', KEYS[1], field)
  if not record then return 0 end
  -- Whether or not it expired, the counters still count it until it is dropped.
  for counter in string.gmatch(record, '|([^|]+)') do redis.call('HINCRBY', KEYS[1], counter, -1) end
  redis.call('HDEL', KEYS[1], field)
  -- An expired lease was no longer held (its slot may have gone to another call): no refund.
  if tonumber(string.match(record, '^[^|]+')) <= now then return 0 end
end
for i = 4, #ARGV, 2 do
  local key, field = KEYS[tonumber(ARGV[i])], ARGV[i + 1]
  if tonumber(redis.call('HGET', key, field) or '0') > 0 then redis.call('HINCRBY', key, field, -1) end
end
return ARGV[3] == '1' and 1 or 0
