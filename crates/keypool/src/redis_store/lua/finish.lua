local now = now_ms(ARGV[1])
local id, mode, window, off_now = ARGV[2], ARGV[3], tonumber(ARGV[13]), tonumber(ARGV[14])
prune(KEYS[1], KEYS[2], now, window)
-- Only a call still in flight (logged past now) is finished; a repeated report changes nothing.
local score = tonumber(redis.call('ZSCORE', KEYS[1], id))
if score and score > now then
  if mode == 'release' then
    local old = tonumber(redis.call('HGET', KEYS[2], id)) or 0
    redis.call('ZREM', KEYS[1], id)
    redis.call('HDEL', KEYS[2], id)
    redis.call('HINCRBY', KEYS[2], '__t', 0 - old)
    if tonumber(redis.call('HGET', KEYS[3], 'day')) == day_of(score - HOLD, off_now) then
      redis.call('HINCRBY', KEYS[3], 'count', -1)
    end
  else
    if mode == 'settle' then
      local old = tonumber(redis.call('HGET', KEYS[2], id)) or 0
      redis.call('HSET', KEYS[2], id, ARGV[4])
      redis.call('HINCRBY', KEYS[2], '__t', tonumber(ARGV[4]) - old)
    end
    -- The slot is held until a window after the call completed.
    redis.call('ZADD', KEYS[1], 'XX', now, id)
  end
end
local learned = false
for i, f in ipairs({'rpm', 'tpm', 'rpd'}) do
  local v = tonumber(ARGV[14 + i])
  if v and v >= 1 then
    -- A newer answer replaces what an older one taught; all of it holds for learned_ttl.
    redis.call('HSET', KEYS[7], f, v)
    learned = true
  end
end
if learned then redis.call('PEXPIRE', KEYS[7], tonumber(ARGV[18])) end
local cool_ms = tonumber(ARGV[5])
if cool_ms >= 0 then
  local till = now + cool_ms
  if till > (tonumber(redis.call('HGET', KEYS[4], 'until')) or 0) then
    redis.call('HSET', KEYS[4], 'until', till, 'reason', ARGV[6])
    redis.call('PEXPIRE', KEYS[4], cool_ms + 1000)
  end
end
if tonumber(ARGV[7]) > 0 then redis.call('HINCRBY', KEYS[5], 'ok', ARGV[7]) end
if tonumber(ARGV[8]) > 0 then redis.call('HINCRBY', KEYS[5], 'err', ARGV[8]) end
redis.call('HSET', KEYS[5], 'used', now)
if ARGV[9] ~= '' then redis.call('HSET', KEYS[5], 'le', ARGV[9]) end
if ARGV[12] ~= '' and redis.call('HGET', KEYS[6], 'owner') == ARGV[12] then redis.call('DEL', KEYS[6]) end
local v = tonumber(redis.call('HGET', KEYS[5], 'v')) or 0
local s = redis.call('HGET', KEYS[5], 's') or ''
local n = redis.call('ZCARD', KEYS[1])
local t = tonumber(redis.call('HGET', KEYS[2], '__t')) or 0
local d = 0
if tonumber(redis.call('HGET', KEYS[3], 'day')) == day_of(now, off_now) then
  d = tonumber(redis.call('HGET', KEYS[3], 'count')) or 0
end
if ARGV[11] ~= '' then
  if v ~= tonumber(ARGV[10]) then return {0, v, s, now, n, t, d} end
  redis.call('HSET', KEYS[5], 's', ARGV[11], 'v', v + 1)
  return {1, v + 1, ARGV[11], now, n, t, d}
end
return {1, v, s, now, n, t, d}
