/** Catalog changes between instances over Redis pub/sub, so every instance's caches drop stale tenants within milliseconds. */
import { randomUUID } from 'node:crypto'
import { applyTenantChange, isTenantChange, TenantryError, type TenantChange, type TenantChangeTargets } from '@tenantry/core'

/** The part of an ioredis client (plain or Cluster) this module uses. */
export interface PubSubRedis {
  publish(channel: string, message: string): Promise<number>
  subscribe(channel: string): Promise<unknown>
  unsubscribe(channel: string): Promise<unknown>
  duplicate(): PubSubRedis
  on(event: 'message', listener: (channel: string, message: string) => void): unknown
  on(event: 'ready', listener: () => void): unknown
  on(event: 'error', listener: (error: Error) => void): unknown
  on(event: 'close', listener: () => void): unknown
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  off(event: string, listener: (...args: any[]) => void): unknown
  quit(): Promise<unknown>
}

export const DEFAULT_INVALIDATION_CHANNEL = 'tenantry:invalidate'

/** How often the caches are cleared while the subscriber is disconnected (the staleness bound during an outage). */
export const OUTAGE_CLEAR_MS = 500

/** Caches to keep current; `clear()`, when present, is called after a lost connection. */
export interface InvalidationTargets {
  readonly directory?: TenantChangeTargets['directory'] & { clear?(): void }
  readonly apiKeys?: TenantChangeTargets['apiKeys'] & { clear?(): void }
}

export interface RedisTenantInvalidationOptions extends InvalidationTargets {
  /**
   * An ioredis client (it publishes; a duplicate subscribes, because a subscribed
   * connection can do nothing else), or a factory called for each connection.
   */
  readonly redis: PubSubRedis | (() => PubSubRedis)
  /** Default `tenantry:invalidate`. Every instance of one deployment uses the same channel. */
  readonly channel?: string
  /** Told of bad messages and Redis errors; default a process warning. */
  readonly onError?: (error: unknown) => void
}

/** A running invalidation channel. */
export interface TenantInvalidation {
  readonly channel: string
  /** Applies the change here at once, then tells every other instance. */
  publish(change: TenantChange): Promise<void>
  /** For `catalog.onChange(invalidation.listener)`. */
  readonly listener: (change: TenantChange) => Promise<void>
  /** Messages applied from other instances (and this one's echoes) since start. */
  received(): number
  /** Unsubscribes and closes the connections this module opened. */
  close(): Promise<void>
}

interface Envelope {
  readonly v: 1
  readonly origin: string
  readonly change: TenantChange
}

function encode(origin: string, change: TenantChange): string {
  const envelope: Envelope = { v: 1, origin, change }
  return JSON.stringify(envelope)
}

function decode(message: string): Envelope | undefined {
  try {
    const value = JSON.parse(message) as Partial<Envelope>
    return value?.v === 1 && typeof value.origin === 'string' && isTenantChange(value.change) ? (value as Envelope) : undefined
  } catch {
    return undefined
  }
}

function checkChannel(channel: unknown): string {
  if (typeof channel !== 'string' || channel.length === 0 || channel.length > 200) {
    throw new TenantryError('VALIDATION_FAILED', 'redisTenantInvalidation: channel must be a non-empty string', {
      details: [{ path: 'channel', message: 'must be a non-empty string' }],
    })
  }
  return channel
}

/**
 * Publishes one catalog change to every instance listening on `channel`.
 * Prefer `TenantInvalidation.publish`, which also applies it locally.
 *
 * @example
 * await publishTenantChange(redis, { kind: 'tenant.status_changed', tenantId, slug: 'acme' })
 */
export async function publishTenantChange(redis: Pick<PubSubRedis, 'publish'>, change: TenantChange, channel = DEFAULT_INVALIDATION_CHANNEL): Promise<number> {
  if (!isTenantChange(change)) {
    throw new TenantryError('VALIDATION_FAILED', 'publishTenantChange needs a TenantChange { kind, tenantId, slug?, domains?, keyId? }')
  }
  return redis.publish(checkChannel(channel), encode('publisher', change))
}

/**
 * Subscribes to catalog changes on Redis and applies each to this instance's
 * caches; `publish` sends this instance's changes to the others. Wire it to the
 * catalog so a suspend, delete, domain change or key revocation on one instance
 * is seen by all of them (well within a second: one pub/sub hop). While the
 * subscriber is disconnected the caches are cleared every 500 ms (a lookup goes
 * to the catalog instead), and once more on reconnect, since changes may have
 * been missed meanwhile.
 *
 * @example
 * const directory = new CachedTenantDirectory(catalog)
 * const apiKeys = new CachedApiKeyVerifier(catalog)
 * const invalidation = await redisTenantInvalidation({ redis: new Redis(process.env.REDIS_URL!), directory, apiKeys })
 * catalog.onChange(invalidation.listener)
 * // at shutdown
 * await invalidation.close()
 */
export async function redisTenantInvalidation(options: RedisTenantInvalidationOptions): Promise<TenantInvalidation> {
  const channel = checkChannel(options.channel ?? DEFAULT_INVALIDATION_CHANNEL)
  const { directory, apiKeys } = options
  const onError = options.onError ?? ((error: unknown) => process.emitWarning(`tenant invalidation: ${String(error)}`, 'TenantryInvalidationWarning'))
  const made: PubSubRedis[] = []
  let publisher: PubSubRedis
  let subscriber: PubSubRedis
  if (typeof options.redis === 'function') {
    publisher = options.redis()
    subscriber = options.redis()
    made.push(publisher, subscriber)
  } else if (typeof options.redis?.publish === 'function' && typeof options.redis.duplicate === 'function') {
    publisher = options.redis
    subscriber = options.redis.duplicate()
    made.push(subscriber)
  } else {
    throw new TenantryError('VALIDATION_FAILED', 'redisTenantInvalidation needs redis: an ioredis client or a factory of clients', {
      details: [{ path: 'redis', message: 'must be an ioredis client or a function returning one' }],
    })
  }
  const origin = randomUUID()
  const targets = { directory, apiKeys }
  let received = 0
  let ready = false

  const onMessage = (from: string, message: string): void => {
    if (from !== channel) return
    const envelope = decode(message)
    if (envelope === undefined) {
      onError(new Error(`ignored a malformed message on ${channel}`))
      return
    }
    received++
    applyTenantChange(envelope.change, targets)
  }
  const clearCaches = (): void => {
    directory?.clear?.()
    apiKeys?.clear?.()
  }
  // While the subscriber is disconnected, changes from other instances cannot
  // reach this one: clear the caches now and then every OUTAGE_CLEAR_MS, so no
  // entry outlives the promised bound (about a second) during an outage.
  let outage: NodeJS.Timeout | undefined
  const onClose = (): void => {
    if (!ready || outage !== undefined) return
    clearCaches()
    outage = setInterval(clearCaches, OUTAGE_CLEAR_MS)
    outage.unref()
  }
  const onReady = (): void => {
    // The first ready is the start; any later one is a reconnect, and changes published
    // while we were away are lost: start over from the source.
    if (outage !== undefined) {
      clearInterval(outage)
      outage = undefined
    }
    if (ready) clearCaches()
    ready = true
  }
  // A publisher this module made is its own to watch: an unwatched ioredis error is printed as unhandled.
  if (made.includes(publisher)) publisher.on('error', onError)
  subscriber.on('message', onMessage)
  subscriber.on('close', onClose)
  subscriber.on('ready', onReady)
  subscriber.on('error', onError)
  try {
    await subscriber.subscribe(channel)
  } catch (error) {
    await Promise.allSettled(made.map((c) => c.quit()))
    throw error
  }
  ready = true

  const publish = async (change: TenantChange): Promise<void> => {
    applyTenantChange(change, targets)
    await publisher.publish(channel, encode(origin, change))
  }
  return {
    channel,
    publish,
    listener: publish,
    received: () => received,
    async close() {
      subscriber.off('message', onMessage)
      subscriber.off('close', onClose)
      subscriber.off('ready', onReady)
      if (outage !== undefined) clearInterval(outage)
      outage = undefined
      await subscriber.unsubscribe(channel).catch(() => undefined)
      await Promise.allSettled(made.map((c) => c.quit()))
      subscriber.off('error', onError)
    },
  }
}
