import { isUuid, validationError } from '@tenantry/core'

/** A position in a list ordered by (created_at, id): the last row of a page. */
export interface Cursor {
  readonly createdAt: Date
  readonly id: string
}

const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/
const CURSOR = /^[A-Za-z0-9_-]{1,200}$/

/**
 * The opaque cursor of the row after which the next page starts: base64url of
 * a tiny JSON `[created_at, id]`. Cursors are validated strictly on the way back in
 * (shape, timestamp, UUID), so a tampered cursor is VALIDATION_FAILED, never a
 * query error; it can only move within the caller's own tenant's rows anyway.
 *
 * @example
 * const next = encodeCursor({ createdAt: row.created_at, id: row.id })
 * decodeCursor(next) // { createdAt, id }
 */
export function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify([cursor.createdAt.toISOString(), cursor.id])).toString('base64url')
}

/** Decodes a cursor from a query string, or throws VALIDATION_FAILED (`path` names the parameter). */
export function decodeCursor(raw: string, path = 'query.cursor'): Cursor {
  const invalid = () => validationError([{ path, message: 'is not a cursor this API issued (pass next_cursor from a previous page unchanged)' }])
  if (!CURSOR.test(raw)) throw invalid()
  let value: unknown
  try {
    value = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'))
  } catch {
    throw invalid()
  }
  if (!Array.isArray(value) || value.length !== 2) throw invalid()
  const [at, id] = value as unknown[]
  if (typeof at !== 'string' || !ISO_MS.test(at) || !isUuid(id)) throw invalid()
  const createdAt = new Date(at)
  // Round-trips only for a real instant (2024-02-30 parses, but not back to itself).
  if (Number.isNaN(createdAt.getTime()) || createdAt.toISOString() !== at) throw invalid()
  // Canonical form only: one cursor per position, lowercase ids as the API prints them.
  if (id !== id.toLowerCase() || encodeCursor({ createdAt, id }) !== raw) throw invalid()
  return { createdAt, id }
}
