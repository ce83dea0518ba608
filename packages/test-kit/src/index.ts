/**
 * @tenantry/test-kit (private): what Tenantry's own tests stand on — the
 * backends (PGlite always, PostgreSQL when TENANTRY_PG_URL is set), Redis and
 * second servers, the fleet and the three models built by createTenantry, one
 * HTTP client, one `expectCode()`, and the HTTP contract every adapter passes.
 */
export * from './backends.ts'
export * from './catalog.ts'
export * from './conformance-coverage.ts'
export * from './conformance-tables.ts'
export * from './doctor-fixture.ts'
export * from './expect-code.ts'
export * from './fleet.ts'
export * from './http.ts'
export * from './models.ts'
export * from './pgbouncer.ts'
export * from './ports.ts'
export * from './redis.ts'
export * from './redis-cluster.ts'
export * from './second-server.ts'
export * from './adapter-contract/http-contract.ts'
export * from './adapter-contract/refusal-contract.ts'
export * from './adapter-contract/catalog-contract.ts'
export * from './adapter-contract/memory-fixture.ts'
export * from './adapter-contract/observer-contract.ts'
export * from './job-tenants.ts'
