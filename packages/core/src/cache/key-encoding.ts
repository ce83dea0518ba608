/**
 * Key encoding for everything Tenantry stores under a tenant's name (cache
 * entries, rate-limit counters), in memory or in Redis.
 *
 * `encodeKeyPart` keeps `A-Z a-z 0-9 _ . -` and writes every other UTF-16 code
 * unit as `%XX` (below 0x100) or `%uXXXX`, with uppercase hex. So an encoded
 * part never contains `:` `{` `}` `*` `?` `[` `]` `\` `/`, whitespace, a control
 * character or a non-ASCII one, whatever the input (lone surrogates included),
 * and the encoding is one-to-one: two different inputs never give the same
 * output. A key such as `a}:c:1:{b` cannot leave its tenant's hash tag or be read
 * as another tenant's key, and a Redis glob over encoded keys matches literally.
 */

const SAFE = /^[A-Za-z0-9_.-]*$/
const HEX = '0123456789ABCDEF'

/**
 * Encodes one part of a key (see the module notes for the guarantees).
 *
 * @example
 * encodeKeyPart('user:42')   // 'user%3A42'
 * encodeKeyPart('{t}*')      // '%7Bt%7D%2A'
 */
export function encodeKeyPart(part: string): string {
  if (SAFE.test(part)) return part
  let out = ''
  for (let i = 0; i < part.length; i++) {
    const code = part.charCodeAt(i)
    const safe = (code >= 0x30 && code <= 0x39) || (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a) || code === 0x5f || code === 0x2e || code === 0x2d
    if (safe) out += part[i]
    else if (code < 0x100) out += `%${HEX[code >> 4]}${HEX[code & 15]}`
    else out += `%u${HEX[code >> 12]}${HEX[(code >> 8) & 15]}${HEX[(code >> 4) & 15]}${HEX[code & 15]}`
  }
  return out
}

/** The inverse of `encodeKeyPart` (for tools and tests); throws on malformed input. */
export function decodeKeyPart(encoded: string): string {
  let out = ''
  for (let i = 0; i < encoded.length; ) {
    const ch = encoded[i] as string
    if (ch !== '%') {
      if (!SAFE.test(ch)) throw new RangeError(`not an encoded key part: ${JSON.stringify(encoded)}`)
      out += ch
      i++
    } else if (encoded[i + 1] === 'u') {
      out += String.fromCharCode(hex(encoded.slice(i + 2, i + 6), encoded))
      i += 6
    } else {
      out += String.fromCharCode(hex(encoded.slice(i + 1, i + 3), encoded))
      i += 3
    }
  }
  return out
}

function hex(digits: string, whole: string): number {
  if (!/^[0-9A-F]+$/.test(digits) || (digits.length !== 2 && digits.length !== 4)) throw new RangeError(`not an encoded key part: ${JSON.stringify(whole)}`)
  return Number.parseInt(digits, 16)
}
