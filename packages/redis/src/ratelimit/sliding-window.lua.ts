/**
 * The sliding-window counter of `@tenantry/core` (ratelimit/sliding-window.ts),
 * in Lua, decided inside Redis in one step. Time comes from Redis (`TIME`), so
 * every instance checks against one clock; Redis 5+ replicates a script by its
 * effects, which is what makes TIME allowed before a write (Redis 7: always).
 *
 * KEYS[1]  the counter hash: field = slot number, value = units spent in it
 * ARGV     limit, slot length in ms (g), slots (n), cost
 * returns  { allowed 0|1, remaining, resetMs, retryAfterMs, now ms }
 */
export const SLIDING_WINDOW_LUA = `
local limit = tonumber(ARGV[1])
local g = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local current = math.floor(now / g)
local first = current - n
local flat = redis.call('HGETALL', KEYS[1])
local slots, counts, stale = {}, {}, {}
local sum = 0
for i = 1, #flat, 2 do
  local s = tonumber(flat[i])
  local c = tonumber(flat[i + 1])
  if s < first or c <= 0 then
    stale[#stale + 1] = flat[i]
  else
    slots[#slots + 1] = s
    counts[s] = c
    sum = sum + c
  end
end
if #stale > 0 then redis.call('HDEL', KEYS[1], unpack(stale)) end
if #slots > 1 then table.sort(slots) end
local allowed = 0
local retry = 0
if cost <= limit - sum then
  allowed = 1
  if cost > 0 then
    redis.call('HINCRBY', KEYS[1], string.format('%d', current), cost)
    if counts[current] == nil then
      -- A new slot moves the expiry: the hash lives until this slot leaves the window.
      redis.call('PEXPIRE', KEYS[1], (current + n + 1) * g - now)
      slots[#slots + 1] = current
    end
    counts[current] = (counts[current] or 0) + cost
    sum = sum + cost
  end
elseif cost > limit then
  retry = (current + n + 1) * g - now
else
  local freed = 0
  for _, s in ipairs(slots) do
    freed = freed + counts[s]
    if sum - freed + cost <= limit then
      retry = (s + n + 1) * g - now
      break
    end
  end
end
local reset = 0
if #slots > 0 then reset = (slots[1] + n + 1) * g - now end
local remaining = limit - sum
if remaining < 0 then remaining = 0 end
return { allowed, remaining, reset, retry, now }
`
