/** The contract fixture on an in-memory directory and key verifier (no database). */
import { randomUUID } from 'node:crypto'
import {
  TenantResolution,
  apiKeyAuthenticator,
  customDomainResolver,
  headerResolver,
  pathResolver,
  subdomainResolver,
  type ApiKeyOwner,
  type Tenant,
  type TenantDirectory,
  type TenantStatus,
} from '@tenantry/core'
import type { ContractFixture } from './http-contract.ts'

type Row = Tenant & { domains: string[]; key: string }

function row(slug: string, status: TenantStatus, domains: string[] = []): Row {
  const now = new Date()
  return {
    id: randomUUID(), slug, name: slug, status, plan: 'free', isolation: 'shared', placement: {}, settings: {},
    createdAt: now, updatedAt: now, domains, key: `tnt_${slug.slice(0, 8).padEnd(8, 'x')}_${randomUUID().replaceAll('-', '')}`,
  }
}

/** The resolvers every contract app uses. */
export function contractResolvers() {
  return [subdomainResolver({ baseDomains: ['localhost'] }), customDomainResolver(), headerResolver(), pathResolver()]
}

export async function memoryFixture(): Promise<ContractFixture> {
  const rows = [row('acme', 'active', ['tasks.acme.test']), row('globex', 'active'), row('initech', 'suspended')]
  const find = async (match: (r: Row) => boolean) => rows.find(match)
  const directory: TenantDirectory = {
    getBySlug: (slug) => find((r) => r.slug === slug),
    getById: (id) => find((r) => r.id === id),
    getByDomain: (domain) => find((r) => r.domains.includes(domain)),
  }
  const verifier = {
    async verifyApiKey(key: string): Promise<ApiKeyOwner | undefined> {
      const owner = rows.find((r) => r.key === key)
      return owner && { keyId: `key-of-${owner.slug}`, tenantId: owner.id }
    },
  }
  const [acme, globex, initech] = rows as [Row, Row, Row]
  return {
    options: { resolution: new TenantResolution({ resolvers: contractResolvers(), directory }), authenticate: apiKeyAuthenticator(verifier) },
    acme: { slug: acme.slug, key: acme.key, domain: 'tasks.acme.test' },
    globex: { slug: globex.slug, key: globex.key },
    initech: { slug: initech.slug, key: initech.key },
    async close() {},
  }
}
