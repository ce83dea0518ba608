import { encodeKeyPart, validationError } from '@tenantry/core'

/** The first part of every key Tenantry writes to Redis. */
export const DEFAULT_KEY_PREFIX = 'tenantry'

const PREFIX = /^[A-Za-z0-9_.:-]{1,64}$/

/** Throws VALIDATION_FAILED unless `prefix` is 1-64 of `A-Z a-z 0-9 _ . : -` (no braces: they would move the hash tag). */
export function checkKeyPrefix(prefix: unknown, path = 'options.keyPrefix'): string {
  if (typeof prefix !== 'string' || !PREFIX.test(prefix)) {
    throw validationError([{ path, message: 'must be 1 to 64 characters of A-Z a-z 0-9 _ . : - (no braces)' }])
  }
  return prefix
}

/**
 * The root of a tenant's keys: `<prefix>:{<tenant id>}:<kind>`. The tenant id
 * sits in a hash tag, so all of a tenant's keys hash to one Redis Cluster slot
 * (a Lua script may then touch several of them). The id is written with
 * `encodeKeyPart`: a UUID stays as it is, and no id can close the tag early or
 * read as another tenant's.
 *
 * @example
 * tenantKey('3ecc5e81-…', 'rl')   // 'tenantry:{3ecc5e81-…}:rl'
 */
export function tenantKey(tenantId: string, kind: string, prefix: string = DEFAULT_KEY_PREFIX): string {
  return `${prefix}:{${encodeKeyPart(tenantId)}}:${kind}`
}

/**
 * The part of `key` Redis Cluster hashes: the text between the first `{` and
 * the next `}` when that is not empty, else the whole key (the Redis spec).
 */
export function hashTagOf(key: string): string {
  const open = key.indexOf('{')
  if (open === -1) return key
  const close = key.indexOf('}', open + 1)
  if (close === -1 || close === open + 1) return key
  return key.slice(open + 1, close)
}
