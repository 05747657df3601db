-- Reconciliation: raises quota counters that are lower than what Postgres counted (after a
-- Redis failover or restart lost them), never lowers one (Redis also counts calls still
-- running or not yet ingested, so it is normally ahead).
-- KEYS[1]   the organization's quota hash for the period
-- ARGV[1]   TTL in ms to set when the hash has none (it was recreated by this script)
-- ARGV[2..] field, count pairs
-- returns   how many counters were raised
local raised = 0
for i = 2, #ARGV, 2 do
  local field, want = ARGV[i], tonumber(ARGV[i + 1])
  if tonumber(redis.call('HGET', KEYS[1], field) or '0') < want then
    redis.call('HSET', KEYS[1], field, want)
    raised = raised + 1
  end
end
if raised > 0 and redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return raised
