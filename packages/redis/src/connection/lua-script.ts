import { createHash } from 'node:crypto'
import { Cluster } from 'ioredis'
import type { RedisClient } from './client.ts'

/**
 * A Lua script run by EVALSHA: loaded once per client with SCRIPT LOAD (on
 * every master of a cluster), then sent by its SHA1 only. When a node answers
 * NOSCRIPT (restarted, failed over, SCRIPT FLUSH), the call is retried once
 * with EVAL, which runs the script and puts it back in that node's cache, so
 * the next EVALSHA succeeds again. Keys must share a hash tag on a cluster.
 *
 * @example
 * const script = new LuaScript('ping', "return redis.call('PING')")
 * await script.run(redis, [key], [])
 */
export class LuaScript {
  readonly sha: string
  /** Times a node had lost the script and it was sent again. */
  reloads = 0
  readonly #loaded = new WeakSet<RedisClient>()
  readonly #loading = new WeakMap<RedisClient, Promise<void>>()

  constructor(readonly name: string, readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex')
  }

  /** SCRIPT LOAD on the client's server, or on every master of a cluster. */
  async load(client: RedisClient): Promise<void> {
    let pending = this.#loading.get(client)
    if (pending === undefined) {
      pending = this.#loadNow(client).finally(() => this.#loading.delete(client))
      this.#loading.set(client, pending)
    }
    return pending
  }

  /** Runs the script: one round trip (two when a node had lost it). */
  async run(client: RedisClient, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    if (!this.#loaded.has(client)) await this.load(client)
    try {
      return await client.evalsha(this.sha, keys.length, ...keys, ...args)
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error
      this.reloads++
      return client.eval(this.source, keys.length, ...keys, ...args)
    }
  }

  async #loadNow(client: RedisClient): Promise<void> {
    const nodes = client instanceof Cluster ? client.nodes('master') : [client]
    const shas = await Promise.all(nodes.map((node) => node.script('LOAD', this.source) as Promise<string>))
    for (const sha of shas) {
      if (sha !== this.sha) throw new Error(`SCRIPT LOAD of ${this.name} answered ${sha}, expected ${this.sha}`)
    }
    this.#loaded.add(client)
  }
}
