local v = tonumber(redis.call('HGET', KEYS[1], 'v')) or 0
if v ~= tonumber(ARGV[1]) then return {0, v, redis.call('HGET', KEYS[1], 's') or ''} end
redis.call('HSET', KEYS[1], 's', ARGV[2], 'v', v + 1)
return {1, v + 1, ARGV[2]}
