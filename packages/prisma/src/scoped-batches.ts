import { AsyncLocalStorage } from 'node:async_hooks'
import { currentScope, TenantryError, type Scope } from '@tenantry/core'

/** A request as Prisma's dataloader queues it: only its identity matters here. */
type PrismaRequest = object

/** The part of Prisma's dataloader Tenantry wraps (Prisma 7's RequestHandler). */
interface PrismaLoaderOptions {
  batchBy(request: PrismaRequest): string | undefined
  singleLoader(request: PrismaRequest): Promise<unknown>
  batchLoader(requests: PrismaRequest[]): Promise<unknown>
  [SCOPED]?: true
}

/** Runs a function in the async context captured when a request was queued. */
type Snapshot = <R>(fn: () => R) => R

const SCOPED = Symbol.for('tenantry.prisma.scoped-batches')

/** Each system scope (each runAsSystem call) batches alone: its reason and actor are its own. */
const systemScopes = new WeakMap<object, number>()
let systemScopeCount = 0

/**
 * What a batch may share: the tenant as the walls see it (its id, status,
 * isolation and placement: two scopes that agree on these get the same
 * settings), one system scope, or no scope.
 */
function batchScopeKey(scope: Scope | undefined): string {
  if (scope === undefined) return '@none'
  if (scope.kind === 'system') {
    let n = systemScopes.get(scope)
    if (n === undefined) systemScopes.set(scope, (n = ++systemScopeCount))
    return `@system:${n}`
  }
  const { id, status, isolation, placement } = scope.tenant
  return JSON.stringify([id, status, isolation ?? null, placement ?? null])
}

/** The dataloader's options of a Prisma client (or of a client made by `$extends`), or undefined. */
function loaderOptionsOf(client: object): PrismaLoaderOptions | undefined {
  const handler = (client as { _requestHandler?: { dataloader?: { options?: unknown } } })._requestHandler
  const options = handler?.dataloader?.options as Partial<PrismaLoaderOptions> | undefined
  if (options === undefined || options === null) return undefined
  const complete = typeof options.batchBy === 'function' && typeof options.singleLoader === 'function' && typeof options.batchLoader === 'function'
  return complete ? (options as PrismaLoaderOptions) : undefined
}

/**
 * Makes a Prisma client (7.x) keep each query in the tenant scope it was made
 * in, and returns the same client.
 *
 * Prisma queues some queries to send them together: every `findUnique` and
 * `findUniqueOrThrow` (merged into one SQL statement when their shapes match),
 * every query of a batch `$transaction([...])`, and every query of an
 * interactive transaction. It sends the whole queue from one
 * `process.nextTick`, which runs in the async context of whichever query was
 * queued first. Over `tenantry.pool` that context is the tenant scope, so
 * without this a second tenant's queries queued in the same tick ran in the
 * first tenant's scope: its `findUnique` could return the first tenant's row,
 * its batch transaction wrote into the first tenant, and its interactive
 * transaction's queries were refused (SCOPE_MISMATCH).
 *
 * With it, queries queue per scope (a tenant as the walls see it: its id,
 * status, isolation and placement; each system scope alone; or none):
 * two tenants' queries are never merged into one statement, and each queue is
 * sent in the async context of its own first query (so Tenantry's scope, and
 * any other AsyncLocalStorage such as OpenTelemetry's, is the caller's).
 * Batching within one tenant is kept: that is the point of Prisma's batching,
 * and it is safe because every statement of a tenant carries the same walls.
 *
 * It wraps Prisma's internal dataloader, which is not a public Prisma API:
 * on a Prisma version whose client has no such dataloader it throws
 * ISOLATION_MISCONFIGURED rather than run unprotected. Calling it twice is
 * harmless; clients made by `$extends` share the wrapped dataloader.
 *
 * @example
 * import { PrismaPg } from '@prisma/adapter-pg'
 * import { scopePrismaBatches } from '@tenantry/prisma'
 * import { PrismaClient } from './generated/prisma/client.ts'
 *
 * // e.g. a NestJS PrismaService that extends PrismaClient
 * export class PrismaService extends PrismaClient {
 *   constructor() {
 *     super({ adapter: new PrismaPg(tenantry.pool) })
 *     scopePrismaBatches(this)
 *   }
 * }
 */
export function scopePrismaBatches<C extends object>(client: C): C {
  const options = loaderOptionsOf(client)
  if (options === undefined) {
    throw new TenantryError(
      'ISOLATION_MISCONFIGURED',
      'scopePrismaBatches cannot find the query dataloader of this Prisma client (it supports @prisma/client 7.x): without it, Prisma sends one tenant\'s batched queries in another tenant\'s scope. Pass a PrismaClient instance, or use a supported Prisma version',
    )
  }
  if (options[SCOPED]) return client
  const { batchBy, singleLoader, batchLoader } = options
  const snapshots = new WeakMap<PrismaRequest, Snapshot>()
  const inQueuedContext = <R>(request: PrismaRequest | undefined, fn: () => R): R => {
    const snapshot = request === undefined ? undefined : snapshots.get(request)
    return snapshot === undefined ? fn() : snapshot(fn)
  }
  options.batchBy = function (request) {
    const key = batchBy.call(this, request)
    // No key: Prisma sends the query at once, in the caller's own context.
    if (!key) return key
    snapshots.set(request, AsyncLocalStorage.snapshot() as Snapshot)
    return `${batchScopeKey(currentScope())}\u0000${key}`
  }
  options.singleLoader = function (request) {
    return inQueuedContext(request, () => singleLoader.call(this, request))
  }
  options.batchLoader = function (requests) {
    // One batch holds one scope's requests (the scope is part of its key).
    return inQueuedContext(requests[0], () => batchLoader.call(this, requests))
  }
  options[SCOPED] = true
  return client
}
