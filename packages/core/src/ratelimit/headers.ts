/**
 * The IETF rate-limit header fields, as draft-ietf-httpapi-ratelimit-headers-11
 * (May 2026) defines them: `RateLimit-Policy` (the quota: `q` units per `w`
 * seconds) and `RateLimit` (what is left now: `r` units, and `t` seconds until
 * that grows), each a Structured Fields list whose item is the policy's name as a
 * String. On a 429 `Retry-After` (RFC 9110, delay-seconds) comes too, never
 * earlier than `t`.
 */

/** `"name"` as a Structured Fields String: printable ASCII, `"` and `\` escaped. */
export function sfString(value: string): string {
  let out = '"'
  for (const ch of value) {
    const code = ch.codePointAt(0) as number
    if (code < 0x20 || code > 0x7e) out += '?'
    else if (ch === '"' || ch === '\\') out += `\\${ch}`
    else out += ch
  }
  return `${out}"`
}

/** Whole seconds for a delay in ms, rounded up: a client told 0 would retry too early. */
export function delaySeconds(ms: number): number {
  return Math.max(0, Math.ceil(ms / 1000))
}

/** `RateLimit-Policy: "pro";q=1000;w=60` (w: the window in whole seconds, at least 1). */
export function rateLimitPolicyHeader(name: string, limit: number, windowMs: number): string {
  return `${sfString(name)};q=${limit};w=${Math.max(1, delaySeconds(windowMs))}`
}

/** `RateLimit: "pro";r=998;t=6`. */
export function rateLimitHeader(name: string, remaining: number, resetMs: number): string {
  return `${sfString(name)};r=${remaining};t=${delaySeconds(resetMs)}`
}

/** `Retry-After` in seconds, at least 1 (a refused client always waits a little). */
export function retryAfterHeader(retryAfterMs: number): string {
  return String(Math.max(1, delaySeconds(retryAfterMs)))
}
