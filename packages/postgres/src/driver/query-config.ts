import { TenantryError } from '@tenantry/core'
import type pg from 'pg'

/**
 * node-postgres' `query(text, values)` or `query(config)` as one config, for a
 * client or pool Tenantry scopes: promises only (no callback), no cursors or
 * streams (a submittable), no paged `rows`. In a tenant scope the query goes
 * out with the extended protocol, which takes one statement, so
 * `commit; begin; …` in one string cannot slip past a check of its first.
 *
 * @example
 * queryConfigOf('select * from projects where id = $1', [id], true)
 * // { text: 'select * from projects where id = $1', values: [id], queryMode: 'extended' }
 */
export function queryConfigOf(text: unknown, values: unknown, extended: boolean): pg.QueryConfig {
  if (typeof values === 'function' || (typeof text === 'object' && text !== null && typeof (text as { callback?: unknown }).callback === 'function')) {
    throw new TenantryError('VALIDATION_FAILED', 'A Tenantry-scoped client returns a promise; pass no callback to query()')
  }
  let config: pg.QueryConfig
  if (typeof text === 'string') {
    config = values === undefined ? { text } : { text, values: values as unknown[] }
  } else if (typeof text === 'object' && text !== null && typeof (text as { submit?: unknown }).submit !== 'function' && typeof (text as { text?: unknown }).text === 'string') {
    config = values === undefined ? { ...(text as pg.QueryConfig) } : { ...(text as pg.QueryConfig), values: values as unknown[] }
  } else {
    throw new TenantryError('VALIDATION_FAILED', 'A Tenantry-scoped client takes SQL text, or a query config with a text ({ text, values, name, rowMode, types }); cursors and streams are not supported')
  }
  if ((config as { rows?: unknown }).rows !== undefined) {
    throw new TenantryError('VALIDATION_FAILED', 'A Tenantry-scoped client does not page results (`rows` in a query config); page with LIMIT/OFFSET or keyset conditions')
  }
  return extended ? ({ ...config, queryMode: 'extended' } as pg.QueryConfig) : config
}
