local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 6)
-- Since when the set exists: a count from a set younger than a heartbeat period (a first start,
-- or a node that came back empty) may miss processes that have not beaten since.
redis.call('SET', KEYS[2], now, 'NX')
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[2]) * 6)
local since = tonumber(redis.call('GET', KEYS[2])) or now
return {redis.call('ZCARD', KEYS[1]), now - since}
