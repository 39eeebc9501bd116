local now = now_ms(ARGV[1])
prune(KEYS[1], KEYS[2], now, tonumber(ARGV[2]))
local d = 0
if tonumber(redis.call('HGET', KEYS[3], 'day')) == day_of(now, tonumber(ARGV[3])) then
  d = tonumber(redis.call('HGET', KEYS[3], 'count')) or 0
end
local lim = redis.call('HMGET', KEYS[5], 'rpm', 'tpm', 'rpd')
return {now, redis.call('ZCARD', KEYS[1]), tonumber(redis.call('HGET', KEYS[2], '__t')) or 0, d,
  tonumber(redis.call('HGET', KEYS[4], 'until')) or 0, redis.call('HGET', KEYS[4], 'reason') or '',
  tonumber(lim[1]) or -1, tonumber(lim[2]) or -1, tonumber(lim[3]) or -1}
