/**
 * Records what a driver adapter asks of a pg.Pool: every `pool.query()`, every
 * promise `pool.connect()` checkout with the statements sent on that client and
 * how it was released, and `pool.end()`, each with the tenant scope it was called
 * in. The pool is patched in place, so it stays a real `pg.Pool` (adapters check
 * `instanceof pg.Pool`). This is how the Prisma tests pin down the contract a
 * tenant-scoped pool must serve.
 *
 * @example
 * const traffic = recordPoolTraffic(pool)
 * await prisma.project.findMany()
 * traffic.statements() // [{ via: 'pool.query', text: 'SELECT …', rowMode: 'array', … }]
 * traffic.detach()
 */
import { tryCurrentTenant } from '@tenantry/core'
import type pg from 'pg'

/** One statement as the driver handed it over. */
export interface SentStatement {
  readonly via: 'pool.query' | 'client.query'
  /** `config`: a query config object (`{ text, values, rowMode, types, name }`); `text`: a SQL string. */
  readonly form: 'config' | 'text'
  readonly text: string
  readonly values: readonly unknown[] | undefined
  readonly rowMode: string | undefined
  /** A prepared statement's name; undefined for unnamed statements. */
  readonly name: string | undefined
  /** The config carries its own type parsers (`types.getTypeParser`). */
  readonly customTypes: boolean
  /** The slug of the tenant scope the call was made in. */
  readonly tenant: string | undefined
}

export type PoolEvent =
  | SentStatement
  | { readonly via: 'pool.connect'; readonly tenant: string | undefined }
  | { readonly via: 'client.release'; readonly withError: boolean }
  | { readonly via: 'pool.end' }

export interface PoolTraffic {
  readonly events: readonly PoolEvent[]
  /** The statements only, in order. */
  statements(): SentStatement[]
  /** The text of every statement, in order. */
  texts(): string[]
  clear(): void
  /** Makes each statement `refusal` returns an error for fail with it instead of being sent (as a tenant-scoped pool refuses SQL). */
  refuse(refusal: ((statement: SentStatement) => Error | undefined) | undefined): void
  /** Restores the pool's own methods. */
  detach(): void
}

type QueryFn = (...args: unknown[]) => unknown

function describeStatement(via: SentStatement['via'], args: readonly unknown[]): SentStatement {
  const [first, second] = args
  const tenant = tryCurrentTenant()?.slug
  if (typeof first === 'string') {
    return { via, form: 'text', text: first, values: Array.isArray(second) ? second : undefined, rowMode: undefined, name: undefined, customTypes: false, tenant }
  }
  const config = (first ?? {}) as { text?: string; values?: unknown[]; rowMode?: string; name?: string; types?: unknown }
  const values = config.values ?? (Array.isArray(second) ? second : undefined)
  return { via, form: 'config', text: String(config.text), values, rowMode: config.rowMode, name: config.name, customTypes: config.types !== undefined, tenant }
}

/** Starts recording `pool`'s traffic (see the module comment). */
export function recordPoolTraffic(pool: pg.Pool): PoolTraffic {
  const events: PoolEvent[] = []
  let refusal: ((statement: SentStatement) => Error | undefined) | undefined
  const target = pool as unknown as Record<'query' | 'connect' | 'end', QueryFn>
  const original = { query: target.query, connect: target.connect, end: target.end }
  const ownBefore = (['query', 'connect', 'end'] as const).filter((key) => Object.hasOwn(pool, key))

  /** Records a statement, then fails it (promise or callback style) or sends it. */
  function send(via: SentStatement['via'], args: unknown[], sendIt: () => unknown): unknown {
    const statement = describeStatement(via, args)
    events.push(statement)
    const refused = refusal?.(statement)
    if (refused === undefined) return sendIt()
    const callback = args.find((arg): arg is (error: Error) => void => typeof arg === 'function')
    if (callback === undefined) return Promise.reject(refused)
    queueMicrotask(() => callback(refused))
    return undefined
  }

  target.query = function recordedPoolQuery(...args: unknown[]) {
    return send('pool.query', args, () => original.query.apply(pool, args))
  }
  target.connect = function recordedPoolConnect(...args: unknown[]) {
    // pg-pool's own query() checks out with a callback; only the driver's promise checkouts are its transactions.
    if (typeof args[0] === 'function') return original.connect.apply(pool, args)
    events.push({ via: 'pool.connect', tenant: tryCurrentTenant()?.slug })
    return (original.connect.apply(pool, args) as Promise<pg.PoolClient>).then(function recordCheckout(client) {
      const own = client as unknown as Record<'query' | 'release', QueryFn>
      const { query, release } = own
      const ownQuery = Object.hasOwn(client, 'query')
      own.query = function recordedClientQuery(...queryArgs: unknown[]) {
        return send('client.query', queryArgs, () => query.apply(client, queryArgs))
      }
      own.release = function recordedRelease(...releaseArgs: unknown[]) {
        events.push({ via: 'client.release', withError: releaseArgs[0] !== undefined && releaseArgs[0] !== false })
        if (ownQuery) own.query = query
        else delete (own as Partial<typeof own>).query
        own.release = release
        return release.apply(client, releaseArgs)
      }
      return client
    })
  }
  target.end = function recordedPoolEnd(...args: unknown[]) {
    events.push({ via: 'pool.end' })
    return original.end.apply(pool, args)
  }

  const isStatement = (event: PoolEvent): event is SentStatement => event.via === 'pool.query' || event.via === 'client.query'
  return {
    events,
    statements: () => events.filter(isStatement),
    texts: () => events.filter(isStatement).map((statement) => statement.text),
    clear: () => { events.length = 0 },
    refuse: (next) => { refusal = next },
    detach: () => {
      for (const key of ['query', 'connect', 'end'] as const) {
        if (ownBefore.includes(key)) target[key] = original[key]
        else delete (target as Partial<typeof target>)[key]
      }
    },
  }
}
