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
  if (typeof text === 'string') return checked({ text, values }, extended)
  if (typeof text === 'object' && text !== null && typeof (text as { submit?: unknown }).submit !== 'function') {
    // Each field read once, into a config of Tenantry's own: what is checked is what is sent.
    const given = text as Record<string, unknown>
    const config = { text: given.text, values: values === undefined ? given.values : values, name: given.name, rowMode: given.rowMode, types: given.types, binary: given.binary, rows: given.rows }
    return checked(config, extended)
  }
  throw new TenantryError('VALIDATION_FAILED', 'A Tenantry-scoped client takes SQL text, or a query config with a text ({ text, values, name, rowMode, types }); cursors and streams are not supported')
}

function checked(given: Record<string, unknown>, extended: boolean): pg.QueryConfig {
  const problems: string[] = []
  const { text, values, name, rowMode, types, binary, rows } = given
  if (typeof text !== 'string') problems.push('text must be a string')
  if (values !== undefined && !Array.isArray(values)) problems.push('values must be an array')
  if (name !== undefined && (typeof name !== 'string' || name.length === 0)) problems.push('name must be a non-empty string')
  if (rowMode !== undefined && rowMode !== 'array') problems.push("rowMode must be 'array' or left out")
  if (types !== undefined && (typeof types !== 'object' || types === null || typeof (types as { getTypeParser?: unknown }).getTypeParser !== 'function')) problems.push('types must have a getTypeParser function')
  if (binary !== undefined && typeof binary !== 'boolean') problems.push('binary must be a boolean')
  if (rows !== undefined) problems.push('rows (paging) is not supported: page with LIMIT/OFFSET or keyset conditions')
  if (problems.length > 0) {
    throw new TenantryError('VALIDATION_FAILED', `This query config cannot be sent by a Tenantry-scoped client: ${problems.join('; ')}`, { details: problems.map((message) => ({ path: 'query', message })) })
  }
  const config: Record<string, unknown> = { text }
  if (values !== undefined) config.values = [...(values as unknown[])]
  if (name !== undefined) config.name = name
  if (rowMode !== undefined) config.rowMode = rowMode
  if (types !== undefined) config.types = types
  if (binary !== undefined) config.binary = binary
  if (extended) config.queryMode = 'extended'
  return config as unknown as pg.QueryConfig
}
