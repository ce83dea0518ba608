/** Tenant rows: create, read, page through, patch, move through the lifecycle, place. */
import { randomUUID } from 'node:crypto'
import type pg from 'pg'
import {
  assertSlug,
  assertTransition,
  assertUuid,
  parseNewTenant,
  parseTenantPatch,
  TenantryError,
  validationError,
  type TenantPlacement,
  type TenantStatus,
} from '@tenantry/core'
import { assertDomain, assertOptions, assertStatus, optionalInteger, parseAttribution, parsePlacement } from './arguments.ts'
import { attribute, writeAudit } from './audit.ts'
import { tenantColumns, toTenantRecord, type TenantRecord, type TenantRow } from './rows.ts'
import { lockLiveTenant, requireLiveTenant, selectTenant, updateTenant } from './tenant-queries.ts'
import { inTransaction } from './transaction.ts'
import { translateWriteError } from './write-errors.ts'

/**
 * Filters and page position for `list`.
 *
 * @example
 * const query: TenantListQuery = { status: 'suspended', limit: 20 }
 */
export interface TenantListQuery {
  /** Only tenants in this status. Without it, every tenant not deleted. */
  readonly status?: TenantStatus
  /** 1-500, default 50. */
  readonly limit?: number
  /** `nextCursor` of the previous page, unchanged. */
  readonly cursor?: string
}

/**
 * One page of tenants, oldest first.
 *
 * @example
 * const { items, nextCursor }: TenantPage = await catalog.list({ limit: 20 })
 * reply.send({ items, next_cursor: nextCursor ?? null })
 */
export interface TenantPage {
  readonly items: readonly TenantRecord[]
  /** Pass to the next `list` call; undefined on the last page. */
  readonly nextCursor: string | undefined
}

export async function createTenant(pool: pg.Pool, input: unknown, optionsInput: unknown, defaultActor: string | undefined): Promise<TenantRecord> {
  const tenant = parseNewTenant(input)
  const options = assertOptions(optionsInput, 'options', ['activate', 'placement', 'actor', 'reason'])
  if (options.activate !== undefined && typeof options.activate !== 'boolean') {
    throw validationError([{ path: 'options.activate', message: 'must be true or false' }])
  }
  const placement = options.placement === undefined ? {} : parsePlacement(options.placement, 'options.placement')
  const domains = tenant.domains ?? []
  const repeated = domains.findIndex((d, i) => domains.indexOf(d) !== i)
  if (repeated >= 0) throw validationError([{ path: `domains.${repeated}`, message: `lists ${domains[repeated]} a second time` }])
  const { actor, reason } = attribute(parseAttribution(options), defaultActor)
  const status: TenantStatus = options.activate === false ? 'provisioning' : 'active'
  const id = randomUUID()
  try {
    return await inTransaction(pool, async function createInTransaction(client) {
      await client.query(
        `insert into tenantry.tenants (id, slug, name, status, plan, isolation, placement, settings)
         values ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb)`,
        [id, tenant.slug, tenant.name, status, tenant.plan ?? 'free', tenant.isolation ?? 'shared', JSON.stringify(placement), JSON.stringify(tenant.settings ?? {})],
      )
      if (domains.length) {
        await client.query('insert into tenantry.domains (domain, tenant_id) select unnest($1::text[]), $2', [domains, id])
      }
      const created = await requireLiveTenant(client, id)
      await writeAudit(client, {
        action: 'tenant.created',
        tenantId: id,
        actor,
        reason,
        details: { slug: created.slug, name: created.name, plan: created.plan, isolation: created.isolation, status, domains },
      })
      return created
    })
  } catch (error) {
    throw translateWriteError(error, { slug: tenant.slug })
  }
}

export async function getTenantById(pool: pg.Pool, id: unknown, optionsInput: unknown): Promise<TenantRecord | undefined> {
  assertUuid(id, 'id')
  const options = assertOptions(optionsInput, 'options', ['includeDeleted'])
  if (options.includeDeleted !== undefined && typeof options.includeDeleted !== 'boolean') {
    throw validationError([{ path: 'options.includeDeleted', message: 'must be true or false' }])
  }
  return selectTenant(pool, options.includeDeleted === true ? 't.id = $1' : 't.id = $1 and t.deleted_at is null', [id])
}

export async function getTenantBySlug(pool: pg.Pool, slug: unknown): Promise<TenantRecord | undefined> {
  assertSlug(slug, 'slug')
  return selectTenant(pool, 't.slug = $1 and t.deleted_at is null', [slug])
}

export async function getTenantByDomain(pool: pg.Pool, domain: unknown): Promise<TenantRecord | undefined> {
  assertDomain(domain, 'domain')
  return selectTenant(pool, 't.id = (select d.tenant_id from tenantry.domains d where d.domain = $1) and t.deleted_at is null', [domain])
}

const CURSOR_AT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/

function encodeCursor(at: string, id: string): string {
  return Buffer.from(JSON.stringify([at, id]), 'utf8').toString('base64url')
}

function decodeCursor(cursor: unknown): [string, string] {
  const problem = (): never => {
    throw new TenantryError('VALIDATION_FAILED', 'cursor is not one this catalog issued; pass nextCursor from the previous page unchanged', {
      details: [{ path: 'cursor', message: 'is not a valid cursor' }],
    })
  }
  if (typeof cursor !== 'string' || cursor.length > 200) return problem()
  let parsed: unknown
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
  } catch {
    return problem()
  }
  if (!Array.isArray(parsed) || parsed.length !== 2) return problem()
  const [at, id] = parsed as unknown[]
  if (typeof at !== 'string' || !CURSOR_AT.test(at) || typeof id !== 'string') return problem()
  assertUuid(id, 'cursor')
  return [at, id]
}

export async function listTenants(pool: pg.Pool, input: unknown): Promise<TenantPage> {
  const query = assertOptions(input, 'query', ['status', 'limit', 'cursor'])
  if (query.status !== undefined) assertStatus(query.status, 'query.status')
  const limit = optionalInteger(query.limit, 'query.limit', 1, 500, 50)
  const values: unknown[] = []
  const where: string[] = []
  if (query.status === 'deleted') where.push("t.status = 'deleted'")
  else {
    where.push('t.deleted_at is null')
    if (query.status !== undefined) where.push(`t.status = $${values.push(query.status)}`)
  }
  if (query.cursor !== undefined) {
    const [at, id] = decodeCursor(query.cursor)
    where.push(`(t.created_at, t.id) > ($${values.push(at)}::timestamptz, $${values.push(id)}::uuid)`)
  }
  // One row more than asked tells whether another page follows.
  const result = await pool.query<TenantRow & { cursor_at: string }>(
    `select ${tenantColumns}, to_char(t.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as cursor_at
     from tenantry.tenants t where ${where.join(' and ')}
     order by t.created_at, t.id limit $${values.push(limit + 1)}`,
    values,
  )
  const rows = result.rows.slice(0, limit)
  const last = rows.at(-1)
  return {
    items: rows.map(toTenantRecord),
    nextCursor: result.rows.length > limit && last !== undefined ? encodeCursor(last.cursor_at, last.id) : undefined,
  }
}

export async function patchTenant(pool: pg.Pool, id: unknown, input: unknown, optionsInput: unknown, defaultActor: string | undefined, check?: unknown): Promise<TenantRecord> {
  assertUuid(id, 'id')
  const patch = parseTenantPatch(input)
  const { actor, reason } = attribute(parseAttribution(assertOptions(optionsInput, 'options', ['actor', 'reason'])), defaultActor)
  if (check !== undefined && typeof check !== 'function') throw validationError([{ path: 'check', message: 'must be a function (current: TenantRecord) => void' }])
  const verify = check === undefined ? undefined : synchronousCheck(check as (current: TenantRecord) => unknown)
  const values: unknown[] = [id]
  const set: string[] = []
  if (patch.name !== undefined) set.push(`name = $${values.push(patch.name)}`)
  if (patch.plan !== undefined) set.push(`plan = $${values.push(patch.plan)}`)
  // Settings are replaced whole, never merged: what the caller sends is what is stored.
  if (patch.settings !== undefined) set.push(`settings = $${values.push(JSON.stringify(patch.settings))}::jsonb`)
  if (set.length === 0) {
    // Nothing to write, but the check still has its say (a caller may use it as a gate).
    const current = await requireLiveTenant(pool, id)
    verify?.(current)
    return current
  }
  return inTransaction(pool, async function patchInTransaction(client) {
    const { slug } = await lockLiveTenant(client, id, 'update')
    // Under the row lock, with the tenant as stored now: no other change of it can land between the check and the write.
    if (verify !== undefined) verify(await requireLiveTenant(client, id))
    const updated = await updateTenant(client, set.join(', '), values)
    const details: Record<string, unknown> = { slug, fields: Object.keys(patch) }
    if (patch.name !== undefined) details.name = patch.name
    if (patch.plan !== undefined) details.plan = patch.plan
    await writeAudit(client, { action: 'tenant.updated', tenantId: id, actor, reason, details })
    return updated
  })
}

/**
 * `check`, made to run synchronously: it runs holding a connection and the
 * tenant's row lock, so it may not wait for anything (a check that waited
 * for the catalog's pool, or on the same tenant, would wait for ever). A
 * check that returns a promise (or any thenable) is refused; its rejection,
 * if any, is ignored.
 */
function synchronousCheck(check: (current: TenantRecord) => unknown): (current: TenantRecord) => void {
  return (current) => {
    const returned = check(current)
    if (returned !== null && (typeof returned === 'object' || typeof returned === 'function') && typeof (returned as { then?: unknown }).then === 'function') {
      Promise.resolve(returned).catch(() => undefined)
      throw validationError([{ path: 'check', message: 'must be synchronous: it runs holding the tenant\'s row lock, so it may not wait (it returned a promise); nothing was written' }])
    }
  }
}

/**
 * Moves a tenant to `to` under a row lock. `expectedFrom`, when given, narrows the
 * lifecycle for a named step (`resume` only from suspended, `activate` only from
 * provisioning), so a step never silently does another step's job.
 */
export async function transitionTenant(
  pool: pg.Pool,
  id: unknown,
  to: unknown,
  optionsInput: unknown,
  defaultActor: string | undefined,
  expectedFrom?: { readonly status: TenantStatus; readonly step: string },
): Promise<TransitionedTenant> {
  assertUuid(id, 'id')
  assertStatus(to, 'to')
  const { actor, reason } = attribute(parseAttribution(assertOptions(optionsInput, 'options', ['actor', 'reason'])), defaultActor)
  return inTransaction(pool, async function transitionInTransaction(client) {
    // FOR UPDATE: a second transition of the same tenant waits here and then sees the new status.
    const { slug, status: from } = await lockLiveTenant(client, id, 'update')
    if (expectedFrom !== undefined && from !== expectedFrom.status) {
      throw new TenantryError('CONFLICT', `Tenant "${slug}" is ${from}; ${expectedFrom.step} applies only to ${expectedFrom.status} tenants`, {
        details: [{ path: 'status', message: `${from} -> ${to} is not ${expectedFrom.step}` }],
      })
    }
    assertTransition(from, to)
    const details: Record<string, unknown> = { slug, from, to }
    let releasedDomains: string[] = []
    if (to === 'deleted') {
      // A deleted tenant holds nothing: its slug (partial index), domains and keys are released.
      const domains = await client.query<{ domain: string }>('delete from tenantry.domains where tenant_id = $1 returning domain', [id])
      const keys = await client.query('update tenantry.api_keys set revoked_at = now() where tenant_id = $1 and revoked_at is null', [id])
      releasedDomains = domains.rows.map((r) => r.domain).sort()
      details.releasedDomains = releasedDomains
      details.revokedKeys = keys.rowCount ?? 0
    }
    const updated = await updateTenant(client, to === 'deleted' ? 'status = $2, deleted_at = now()' : 'status = $2', [id, to])
    await writeAudit(client, { action: 'tenant.status_changed', tenantId: id, actor, reason, details })
    return { tenant: updated, releasedDomains }
  })
}

/** A tenant after a status change, and the domains a deletion released (caches must forget them). */
export interface TransitionedTenant {
  readonly tenant: TenantRecord
  readonly releasedDomains: readonly string[]
}

export async function placeTenant(pool: pg.Pool, id: unknown, placementInput: unknown, optionsInput: unknown, defaultActor: string | undefined): Promise<TenantRecord> {
  assertUuid(id, 'id')
  const placement: TenantPlacement = parsePlacement(placementInput)
  const { actor, reason } = attribute(parseAttribution(assertOptions(optionsInput, 'options', ['actor', 'reason'])), defaultActor)
  return inTransaction(pool, async function placeInTransaction(client) {
    const { slug } = await lockLiveTenant(client, id, 'update')
    const before = await requireLiveTenant(client, id)
    const updated = await updateTenant(client, 'placement = $2::jsonb', [id, JSON.stringify(placement)])
    await writeAudit(client, { action: 'tenant.placement_changed', tenantId: id, actor, reason, details: { slug, from: before.placement, to: placement } })
    return updated
  })
}
