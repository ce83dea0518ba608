/**
 * The sliding-window counter of `@tenantry/core` (ratelimit/sliding-window.ts),
 * in Lua, decided inside Redis in one step. Same decisions, same numbers; the
 * Redis form keeps a running sum so a check costs the same whatever the number
 * of slots. Time comes from Redis (`TIME`), so every instance checks against one
 * clock; Redis 5+ replicates a script by its effects, which is what allows TIME
 * before a write (Redis 7: always).
 *
 * KEYS[1]  the counter, a hash: one field per slot in use (slot number -> units
 *          spent in it), `s` (their sum) and `o` (the oldest slot with units).
 *          Invariant: no slot field is older than `o`, and `o` is at most
 *          `slots` behind any slot still counted, so catching up reads at most
 *          2 × slots + 1 fields, once per slot length.
 * ARGV     limit, slot length in ms (g), slots (n), cost; a fifth argument (tests
 *          only: the store never sends it) replaces TIME with a fixed ms time, so
 *          a test can replay a clock against the JavaScript implementation
 * returns  { allowed 0|1, remaining, resetMs, retryAfterMs, now ms }
 */
export const SLIDING_WINDOW_LUA = `
local key = KEYS[1]
local limit = tonumber(ARGV[1])
local g = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local now
if ARGV[5] then
  now = tonumber(ARGV[5])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local current = math.floor(now / g)
local first = current - n

local state = redis.call('HMGET', key, 's', 'o')
local sum = tonumber(state[1])
local oldest = tonumber(state[2])
local moved = false
if sum == nil or oldest == nil or oldest > current or oldest < first - n - 1 then
  -- No counter, or one this script did not write (or a clock far off): start afresh.
  if sum ~= nil or oldest ~= nil then redis.call('DEL', key) end
  sum = 0
  oldest = nil
elseif oldest < first then
  -- The oldest slot left the window: drop what is older than 'first', find the new oldest.
  local fields = {}
  for s = oldest, current do fields[#fields + 1] = string.format('%d', s) end
  local counts = redis.call('HMGET', key, unpack(fields))
  local drop = {}
  local found = nil
  for i = 1, #fields do
    local c = tonumber(counts[i])
    if c then
      if oldest + i - 1 < first then
        sum = sum - c
        drop[#drop + 1] = fields[i]
      elseif found == nil and c > 0 then
        found = oldest + i - 1
      end
    end
  end
  if #drop > 0 then redis.call('HDEL', key, unpack(drop)) end
  oldest = found
  if oldest == nil then sum = 0 end
  moved = true
end

local allowed = 0
local retry = 0
if cost <= limit - sum then
  allowed = 1
  if cost > 0 then
    if redis.call('HINCRBY', key, string.format('%d', current), cost) == cost then
      -- A new slot moves the expiry: the counter lives until this slot leaves the window.
      redis.call('PEXPIRE', key, (current + n + 1) * g - now)
    end
    sum = sum + cost
    if oldest == nil then
      oldest = current
      moved = true
    end
    if moved then
      redis.call('HSET', key, 's', string.format('%d', sum), 'o', string.format('%d', oldest))
    else
      redis.call('HINCRBY', key, 's', cost)
    end
    moved = false
  end
elseif cost > limit then
  retry = (current + n + 1) * g - now
else
  local fields = {}
  for s = oldest, current do fields[#fields + 1] = string.format('%d', s) end
  local counts = redis.call('HMGET', key, unpack(fields))
  local freed = 0
  for i = 1, #fields do
    local c = tonumber(counts[i])
    if c then
      freed = freed + c
      if sum - freed + cost <= limit then
        retry = (oldest + i - 1 + n + 1) * g - now
        break
      end
    end
  end
end
if moved then
  if oldest == nil then redis.call('DEL', key)
  else redis.call('HSET', key, 's', string.format('%d', sum), 'o', string.format('%d', oldest)) end
end

local reset = 0
if sum > 0 and oldest ~= nil then reset = (oldest + n + 1) * g - now end
local remaining = limit - sum
if remaining < 0 then remaining = 0 end
return { allowed, remaining, reset, retry, now }
`
