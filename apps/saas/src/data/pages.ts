import { encodeCursor } from './cursor.ts'

/** One page of a keyset-paginated list, as the API answers it. */
export interface Page<T> {
  readonly items: T[]
  /** Pass as `?cursor=` for the next page; null on the last page. */
  readonly next_cursor: string | null
}

/**
 * Turns `limit + 1` rows fetched in (created_at, id) order into a page: the extra
 * row only says that another page exists.
 */
export function pageOf<R extends { created_at: Date; id: string }, T>(rows: readonly R[], limit: number, toItem: (row: R) => T): Page<T> {
  const shown = rows.slice(0, limit)
  const last = shown[shown.length - 1]
  return {
    items: shown.map(toItem),
    next_cursor: rows.length > limit && last !== undefined ? encodeCursor({ createdAt: last.created_at, id: last.id }) : null,
  }
}
