/**
 * Job test helpers: tenants in memory (add them, change their status between
 * enqueue and run, hand `source` to `new JobTenancy({ tenants })`), a worker
 * process killed mid-job, and a handler that measures per-tenant concurrency.
 */
import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { currentTenant, type ScopedTenant, type TenantStatus } from '@tenantry/core'
import { waitFor } from './redis.ts'

export interface JobTenants {
  /** A new active shared tenant. */
  add(slug: string, plan?: string): ScopedTenant
  /** Changes a tenant's status as the catalog would. */
  set(tenant: ScopedTenant, status: TenantStatus): void
  /** Removes a tenant (as if never there). */
  remove(tenant: ScopedTenant): void
  all(): ScopedTenant[]
  /** How many times `source.getById` was called. */
  reads(): number
  readonly source: { getById(id: string): Promise<ScopedTenant | undefined> }
}

/**
 * @example
 * const tenants = jobTenants()
 * const acme = tenants.add('acme')
 * const jobs = new JobTenancy({ tenants: tenants.source })
 */
export function jobTenants(): JobTenants {
  const tenants = new Map<string, ScopedTenant>()
  let reads = 0
  return {
    add(slug, plan = 'free') {
      const t: ScopedTenant = { id: randomUUID(), slug, status: 'active', plan, isolation: 'shared' }
      tenants.set(t.id, t)
      return t
    },
    set(t, status) {
      tenants.set(t.id, { ...t, status })
    },
    remove(t) {
      tenants.delete(t.id)
    },
    all: () => [...tenants.values()],
    reads: () => reads,
    source: {
      getById: async (id) => {
        reads++
        return tenants.get(id)
      },
    },
  }
}

/**
 * Runs a worker fixture (a TypeScript file run from source) that prints
 * `started <tenant id>` from inside its handler and never finishes; kills it
 * there with SIGKILL and returns what it printed (trimmed). For the "a worker
 * killed mid-job loses nothing" tests of each queue.
 *
 * @example
 * assert.equal(await killWorkerMidJob(join(here, 'fixtures', 'hanging-worker.ts'), { TENANTRY_TEST_QUEUE: name }), `started ${globex.id}`)
 */
export async function killWorkerMidJob(fixture: string, env: Record<string, string>): Promise<string> {
  const child = spawn(process.execPath, ['--conditions=tenantry-source', '--import', 'tsx', fixture], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  let out = ''
  child.stdout.on('data', (d: Buffer) => (out += d.toString()))
  try {
    await waitFor(() => out.includes('started'), 30_000, 'the child worker took the job')
    return out.trim()
  } finally {
    child.kill('SIGKILL')
    if (child.exitCode === null && child.signalCode === null) await once(child, 'exit')
  }
}

/**
 * A job handler that holds each job `holdMs` and records, by tenant slug,
 * the most of its jobs that ran at once: for per-tenant cap tests.
 *
 * @example
 * const probe = concurrencyProbe(30)
 * // … workers run probe.handler …
 * assert.equal(probe.peak.get('flood'), 2)
 */
export function concurrencyProbe(holdMs: number): { handler: () => Promise<void>; readonly peak: Map<string, number>; done(): number } {
  const running = new Map<string, number>()
  const peak = new Map<string, number>()
  let done = 0
  return {
    peak,
    done: () => done,
    async handler() {
      const slug = currentTenant().slug
      running.set(slug, (running.get(slug) ?? 0) + 1)
      peak.set(slug, Math.max(peak.get(slug) ?? 0, running.get(slug)!))
      await new Promise((r) => setTimeout(r, holdMs))
      running.set(slug, running.get(slug)! - 1)
      done++
    },
  }
}
