/** Custom domains: each lowercase DNS name resolves to at most one live tenant. */
import type pg from 'pg'
import { assertUuid, TenantryError } from '@tenantry/core'
import { assertDomain, assertOptions, parseAttribution } from './arguments.ts'
import { attribute, writeAudit } from './audit.ts'
import type { TenantRecord } from './rows.ts'
import { lockLiveTenant, requireLiveTenant } from './tenant-queries.ts'
import { inTransaction } from './transaction.ts'
import { translateWriteError } from './write-errors.ts'

export async function addDomain(pool: pg.Pool, id: unknown, domain: unknown, input: unknown, defaultActor: string | undefined): Promise<TenantRecord> {
  assertUuid(id, 'id')
  assertDomain(domain, 'domain')
  const { actor, reason } = attribute(parseAttribution(assertOptions(input, 'options', ['actor', 'reason'])), defaultActor)
  try {
    return await inTransaction(pool, async function addDomainInTransaction(client) {
      await lockLiveTenant(client, id, 'share')
      // ON CONFLICT keeps the transaction usable, so the owner can be named below.
      const inserted = await client.query(
        'insert into tenantry.domains (domain, tenant_id) values ($1, $2) on conflict (domain) do nothing returning domain',
        [domain, id],
      )
      if (inserted.rowCount === 0) {
        const owner = await client.query<{ tenant_id: string }>('select tenant_id from tenantry.domains where domain = $1', [domain])
        if (owner.rows[0]?.tenant_id !== id) {
          throw new TenantryError('CONFLICT', `Domain "${domain}" is already registered to another tenant; remove it there first`, {
            details: [{ path: 'domain', message: 'is taken' }],
          })
        }
      } else {
        await writeAudit(client, { action: 'domain.added', tenantId: id, actor, reason, details: { domain } })
      }
      return requireLiveTenant(client, id)
    })
  } catch (error) {
    throw translateWriteError(error)
  }
}

export async function removeDomain(pool: pg.Pool, domain: unknown, input: unknown, defaultActor: string | undefined): Promise<TenantRecord> {
  assertDomain(domain, 'domain')
  const { actor, reason } = attribute(parseAttribution(assertOptions(input, 'options', ['actor', 'reason'])), defaultActor)
  return inTransaction(pool, async function removeDomainInTransaction(client) {
    const removed = await client.query<{ tenant_id: string }>('delete from tenantry.domains where domain = $1 returning tenant_id', [domain])
    const tenantId = removed.rows[0]?.tenant_id
    if (tenantId === undefined) throw new TenantryError('NOT_FOUND', `Domain "${domain}" is not registered to any tenant`)
    await writeAudit(client, { action: 'domain.removed', tenantId, actor, reason, details: { domain } })
    return requireLiveTenant(client, tenantId)
  })
}

export async function listDomains(pool: pg.Pool, id: unknown): Promise<readonly string[]> {
  assertUuid(id, 'id')
  return (await requireLiveTenant(pool, id)).domains
}
