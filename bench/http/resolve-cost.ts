import { performance } from 'node:perf_hooks'
import type { TenantRequest } from '@tenantry/core'
import type { Saas } from '@tenantry/saas'
import type { HttpTarget } from './setup.ts'

export interface ResolveCost {
  /** µs per `resolution.resolve(request)` with the tenant in the lookup cache. */
  readonly resolveUs: number
  /** µs per resolve plus the API-key check, both cached: what a tenant request pays before its handler. */
  readonly resolveAndKeyUs: number
  readonly iterations: number
}

function requestOf(target: HttpTarget): TenantRequest {
  return {
    host: target.host,
    path: target.paths[0] ?? '/api/projects',
    headers: { host: target.host, authorization: target.authorization, accept: '*/*', 'user-agent': 'bench' },
  }
}

async function timeLoop(iterations: number, requests: readonly TenantRequest[], op: (r: TenantRequest) => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 5_000; i++) await op(requests[i % requests.length] as TenantRequest)
  const started = performance.now()
  for (let i = 0; i < iterations; i++) await op(requests[i % requests.length] as TenantRequest)
  return ((performance.now() - started) * 1000) / iterations
}

/**
 * The cost of a cached resolve, in process and without HTTP: the app's own
 * TenantResolution (subdomain, custom domain, X-Tenant-ID resolvers over the
 * cached catalog) and API-key check, on requests of the three tenants in turn.
 * Median of three runs.
 */
export async function measureResolveCost(saas: Saas, targets: readonly HttpTarget[], iterations: number): Promise<ResolveCost> {
  const requests = targets.filter((t) => t.name !== 'baseline').map(requestOf)
  const resolveRuns: number[] = []
  const bothRuns: number[] = []
  for (let run = 0; run < 3; run++) {
    resolveRuns.push(await timeLoop(iterations, requests, (r) => saas.http.resolution.resolve(r)))
    bothRuns.push(await timeLoop(iterations, requests, async (r) => saas.http.authenticate!(r, await saas.http.resolution.resolve(r))))
  }
  const median = (values: number[]): number => values.sort((a, b) => a - b)[1] as number
  return { resolveUs: median(resolveRuns), resolveAndKeyUs: median(bothRuns), iterations }
}
