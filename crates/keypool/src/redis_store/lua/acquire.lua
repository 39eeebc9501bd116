local now = now_ms(ARGV[1])
local tokens = tonumber(ARGV[2])
local lim = redis.call('HMGET', KEYS[7], 'rpm', 'tpm', 'rpd')
local rpm, tpm, rpd = limit(ARGV[3], lim[1]), limit(ARGV[4], lim[2]), limit(ARGV[5], lim[3])
local window, off_now, off_next = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local v = tonumber(redis.call('HGET', KEYS[5], 'v')) or 0
local s = redis.call('HGET', KEYS[5], 's') or ''
prune(KEYS[1], KEYS[2], now, window)
local n = redis.call('ZCARD', KEYS[1])
local t = tonumber(redis.call('HGET', KEYS[2], '__t')) or 0
local day = day_of(now, off_now)
local d = 0
if tonumber(redis.call('HGET', KEYS[3], 'day')) == day then d = tonumber(redis.call('HGET', KEYS[3], 'count')) or 0 end
if redis.call('ZSCORE', KEYS[1], ARGV[9]) then return {1, now, 0, n, t, d, v, s} end
local trial = 0
if s ~= '' then
  local st = cjson.decode(s)
  if st.active == false then return {2, now, 'disabled', v, s} end
  if (tonumber(st.cooldown_until) or 0) > now then return {2, now, 'cooling', v, s} end
  if (tonumber(st.cooldown_step) or 0) > 0 then
    -- The trial is held until a time on the scripts' clock (the one cooldowns and windows
    -- use), not by a TTL on Redis' own: one clock for all of a key's state.
    local held = redis.call('HMGET', KEYS[6], 'owner', 'until')
    if held[1] and (tonumber(held[2]) or 0) > now then return {2, now, 'trial', v, s} end
    redis.call('HSET', KEYS[6], 'owner', ARGV[10], 'until', now + tonumber(ARGV[11]))
    redis.call('PEXPIRE', KEYS[6], tonumber(ARGV[11]) * 2 + 60000)
    trial = 1
  end
elseif ARGV[12] == '0' then
  return {2, now, 'disabled', v, s}
end
local cool = tonumber(redis.call('HGET', KEYS[4], 'until')) or 0
local function refuse(kind, at)
  if trial == 1 then redis.call('DEL', KEYS[6]) end
  return {3, now, kind, at, n, t, d, cool}
end
if cool > now then return refuse('cooldown', cool) end
if tpm and tokens > tpm then return refuse('too_large', -1) end
if rpd and d >= rpd then return refuse('rpd', (day + 1) * 86400000 - off_next) end
local full, kind = nil, nil
if rpm and n >= rpm then
  local e = redis.call('ZRANGE', KEYS[1], n - rpm, n - rpm, 'WITHSCORES')
  full, kind = leaves(tonumber(e[2]), now, window), 'rpm'
end
if tpm and t + tokens > tpm then
  local excess, freed, at = t + tokens - tpm, 0, now
  local all = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
  for i = 1, #all, 2 do
    freed = freed + (tonumber(redis.call('HGET', KEYS[2], all[i])) or 0)
    if freed >= excess then at = leaves(tonumber(all[i + 1]), now, window); break end
  end
  if full == nil or at > full then full, kind = at, 'tpm' end
end
if full then return refuse(kind, full) end
redis.call('ZADD', KEYS[1], now + HOLD, ARGV[9])
redis.call('HSET', KEYS[2], ARGV[9], tokens)
redis.call('HINCRBY', KEYS[2], '__t', tokens)
if d == 0 then redis.call('HSET', KEYS[3], 'day', day, 'count', 0) end
redis.call('HINCRBY', KEYS[3], 'count', 1)
redis.call('PEXPIRE', KEYS[1], window * 2 + HOLD)
redis.call('PEXPIRE', KEYS[2], window * 2 + HOLD)
redis.call('PEXPIRE', KEYS[3], (day + 2) * 86400000 - off_now - now)
return {1, now, trial, n + 1, t + tokens, d + 1, v, s}
