/**
 * How much a cached tenant resolve costs (µs per request), in-process, no HTTP.
 * Not a registered benchmark: run it with
 *   node --conditions=tenantry-source --import tsx bench/resolve-cost.ts
 */
import { randomUUID } from 'node:crypto'
import {
  CachedApiKeyVerifier,
  CachedTenantDirectory,
  TenantResolution,
  apiKeyAuthenticator,
  customDomainResolver,
  headerResolver,
  subdomainResolver,
  type Tenant,
  type TenantDirectory,
  type TenantRequest,
} from '@tenantry/core'

const now = new Date()
const tenants: Tenant[] = Array.from({ length: 100 }, (_, i) => ({
  id: randomUUID(), slug: `tenant-${i}`, name: `T${i}`, status: 'active', plan: 'free', isolation: 'shared',
  placement: {}, settings: {}, createdAt: now, updatedAt: now,
}))
const source: TenantDirectory = {
  getBySlug: async (slug) => tenants.find((t) => t.slug === slug),
  getById: async (id) => tenants.find((t) => t.id === id),
  getByDomain: async () => undefined,
}
const keys = new Map(tenants.map((t) => [`tnt_${t.slug.slice(-8).padStart(8, 'x')}_${randomUUID()}${randomUUID()}`, { keyId: randomUUID(), tenantId: t.id }]))
const keyOf = new Map([...keys].map(([key, owner]) => [owner.tenantId, key]))

const directory = new CachedTenantDirectory(source)
const resolution = new TenantResolution({
  resolvers: [subdomainResolver({ baseDomains: ['localhost'] }), customDomainResolver({ excludeBaseDomains: ['localhost'] }), headerResolver()],
  directory,
})
const authenticate = apiKeyAuthenticator(new CachedApiKeyVerifier({ verifyApiKey: async (key) => keys.get(key) }))
const requests: TenantRequest[] = tenants.map((t) => ({
  host: `${t.slug}.localhost:3000`,
  path: '/api/projects/1',
  headers: { host: `${t.slug}.localhost:3000`, authorization: `Bearer ${keyOf.get(t.id)}`, accept: 'application/json' },
}))

async function measure(label: string, fn: (r: TenantRequest) => Promise<unknown>, rounds = 200_000): Promise<number> {
  for (let i = 0; i < 20_000; i++) await fn(requests[i % requests.length]!)
  const start = process.hrtime.bigint()
  for (let i = 0; i < rounds; i++) await fn(requests[i % requests.length]!)
  const us = Number(process.hrtime.bigint() - start) / 1000 / rounds
  console.log(`${label.padEnd(44)} ${us.toFixed(2)} µs`)
  return us
}

const baseline = await measure('baseline: await of a resolved promise', async () => undefined)
const resolve = await measure('cached resolve (3 resolvers)', (r) => resolution.resolve(r))
const both = await measure('cached resolve + cached API-key check', async (r) => authenticate(r, await resolution.resolve(r)))
console.log(`net cost: resolve ${(resolve - baseline).toFixed(2)} µs, resolve + key ${(both - baseline).toFixed(2)} µs`)
