local function now_ms(arg)
  local n = tonumber(arg)
  if n and n >= 0 then return n end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function prune(log, tok, now, window)
  local old = redis.call('ZRANGEBYSCORE', log, '-inf', now - window)
  if #old > 0 then
    local freed = 0
    for _, id in ipairs(old) do
      freed = freed + (tonumber(redis.call('HGET', tok, id)) or 0)
      redis.call('HDEL', tok, id)
    end
    redis.call('ZREMRANGEBYSCORE', log, '-inf', now - window)
    -- 0 - x, not -x: Lua writes -0 as "-0", which HINCRBY refuses.
    redis.call('HINCRBY', tok, '__t', 0 - freed)
  end
end
local function day_of(ms, off) return math.floor((ms + off) / 86400000) end
-- A call in flight is logged at its reservation + HOLD, after every finished call (logged at its
-- completion, <= now): it holds its slot until it finishes (and is re-logged at that time), or
-- leaves a window after the hold if it never does. It leaves no earlier than a window from now.
local function leaves(score, now, window) return math.min(score, now) + window end
-- A limit in force: the declared one (ARGV, -1 = unknown), lowered by a learned one (a 429's
-- quotaValue, in the bucket's `lim` hash); nil = unknown, not enforced.
local function limit(declared, learned)
  local a, l = tonumber(declared), tonumber(learned)
  if a and a < 0 then a = nil end
  if a and l then return math.min(a, l) end
  return a or l
end
