-- The calls a process granted itself while Redis was away, added to the bucket's window once it
-- answers again (each by its own id: replaying twice adds nothing), so every process counts
-- them until they leave the window, and today's count includes them.
local now = now_ms(ARGV[1])
local window, off_now = tonumber(ARGV[2]), tonumber(ARGV[3])
prune(KEYS[1], KEYS[2], now, window)
local added, tokens = 0, 0
for i = 4, #ARGV - 2, 3 do
  local id, at, tok = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  if at > now - window and redis.call('ZADD', KEYS[1], 'NX', math.min(at, now), id) == 1 then
    redis.call('HSET', KEYS[2], id, tok)
    added = added + 1
    tokens = tokens + tok
  end
end
if added > 0 then
  redis.call('HINCRBY', KEYS[2], '__t', tokens)
  local day = day_of(now, off_now)
  if tonumber(redis.call('HGET', KEYS[3], 'day')) ~= day then
    redis.call('HSET', KEYS[3], 'day', day, 'count', 0)
  end
  redis.call('HINCRBY', KEYS[3], 'count', added)
  redis.call('PEXPIRE', KEYS[1], window * 2 + HOLD)
  redis.call('PEXPIRE', KEYS[2], window * 2 + HOLD)
  redis.call('PEXPIRE', KEYS[3], (day + 2) * 86400000 - off_now - now)
end
return added
