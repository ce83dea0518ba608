import { LuaScript } from '../connection/lua-script.ts'

/**
 * The tenant cache in Redis, one round trip per call. Per tenant:
 *   `<prefix>:{<tenant>}:c:gen`               the current generation (µs of Redis TIME)
 *   `<prefix>:{<tenant>}:c:<gen>:<key>`       an entry, with its TTL
 * Every script gets the generation key as KEYS[1] and builds the entry key from
 * it; both share the tenant's hash tag, hence one Cluster slot. A missing
 * generation is started from TIME (not 0), so a generation key lost to eviction
 * or a restart never brings back an older generation's entries.
 */

const CURRENT_GENERATION = `
local function generation()
  local gen = redis.call('GET', KEYS[1])
  if not gen then
    local t = redis.call('TIME')
    gen = t[1] .. string.format('%06d', tonumber(t[2]))
    redis.call('SET', KEYS[1], gen)
  end
  return gen
end
`

/** ARGV: entry prefix, key. Returns { generation, value | nil }. */
export const readScript = new LuaScript('tenantry-cache-read', `${CURRENT_GENERATION}
local gen = generation()
return { gen, redis.call('GET', ARGV[1] .. gen .. ':' .. ARGV[2]) }
`)

/** ARGV: entry prefix, key, value, ttl ms, expected generation ('' = any). Returns 1, or 0 when flushed since. */
export const writeScript = new LuaScript('tenantry-cache-write', `${CURRENT_GENERATION}
local gen = generation()
if ARGV[5] ~= '' and ARGV[5] ~= gen then return 0 end
redis.call('SET', ARGV[1] .. gen .. ':' .. ARGV[2], ARGV[3], 'PX', ARGV[4])
return 1
`)

/** ARGV: entry prefix, key. Returns the number of keys removed. */
export const deleteScript = new LuaScript('tenantry-cache-delete', `
local gen = redis.call('GET', KEYS[1])
if not gen then return 0 end
return redis.call('DEL', ARGV[1] .. gen .. ':' .. ARGV[2])
`)

/** Starts a new generation: Redis TIME in µs, or the old one + 1 if the clock went back. Returns it. */
export const flushScript = new LuaScript('tenantry-cache-flush', `
local t = redis.call('TIME')
local g = tonumber(t[1]) * 1000000 + tonumber(t[2])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current ~= nil and g <= current then g = current + 1 end
local gen = string.format('%.0f', g)
redis.call('SET', KEYS[1], gen)
return gen
`)
