import { performance } from 'node:perf_hooks'
import { silentLogger, type FairShareLogger } from './logger.ts'

export interface StoreGuardOptions {
  /** What is guarded, for the log: `'rate-limit store'`, `'tenant cache store'`. */
  readonly name: string
  /** A store call slower than this counts as failed (0: no timeout). */
  readonly timeoutMs?: number
  /**
   * After a failure, calls skip the store for this long and take the fallback at
   * once; then one probe call goes through, and its success closes the circuit.
   */
  readonly cooldownMs?: number
  /** While the store stays down, a reminder is logged at most this often. */
  readonly reminderMs?: number
  readonly logger?: FairShareLogger
  /** The clock, in ms (tests pass a fake one). */
  readonly now?: () => number
}

/** What a guarded call came to: the store's answer, or why there is none. */
export type GuardOutcome<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: unknown; readonly skipped: boolean }

/** Counters since the guard was made. */
export interface StoreGuardStats {
  /** Calls that reached the store. */
  readonly calls: number
  /** Calls that failed at the store (timeouts included). */
  readonly errors: number
  readonly timeouts: number
  /** Calls that did not try the store because the circuit was open. */
  readonly skipped: number
  /** Times the store went from healthy to failing. */
  readonly outages: number
  /** True while calls skip the store. */
  readonly open: boolean
}

/** The error a guarded call gets when the store did not answer in time. */
export class StoreTimeoutError extends Error {
  override readonly name = 'StoreTimeoutError'
}

/** The error a call gets while the circuit is open (the store is not asked). */
export class StoreSkippedError extends Error {
  override readonly name = 'StoreSkippedError'
}

type State = 'closed' | 'open' | 'probing'

/** A store call being timed: a node of the guard's list of pending calls. */
interface Watch {
  readonly deadline: number
  readonly reject: (error: StoreTimeoutError) => void
  prev: Watch | undefined
  next: Watch | undefined
}

/**
 * A timeout and a circuit breaker around a remote store (Redis), so that a store
 * that is down or slow costs each request at most `timeoutMs` once, then nothing:
 * after a failure every call takes its fallback at once for `cooldownMs`, a single
 * probe then decides whether the store is back. The log gets one warning when the
 * store fails, a reminder every `reminderMs` while it stays down, and one line
 * when it recovers; never a line per request.
 *
 * @example
 * const guard = new StoreGuard({ name: 'rate-limit store', timeoutMs: 100, logger })
 * const outcome = await guard.run(() => store.consume(target, window, 1))
 * if (!outcome.ok) return failOpen()
 */
export class StoreGuard {
  readonly name: string
  readonly #timeoutMs: number
  readonly #cooldownMs: number
  readonly #reminderMs: number
  readonly #logger: FairShareLogger
  readonly #now: () => number
  #state: State = 'closed'
  #retryAt = 0
  #downSince = 0
  #lastLog = 0
  #calls = 0
  #errors = 0
  #timeouts = 0
  #skipped = 0
  #skippedThisOutage = 0
  #outages = 0
  #first: Watch | undefined
  #last: Watch | undefined
  #timer: NodeJS.Timeout | undefined

  constructor(options: StoreGuardOptions) {
    this.name = options.name
    this.#timeoutMs = options.timeoutMs ?? 100
    this.#cooldownMs = options.cooldownMs ?? 1000
    this.#reminderMs = options.reminderMs ?? 30_000
    this.#logger = options.logger ?? silentLogger
    this.#now = options.now ?? Date.now
  }

  /** True while calls skip the store. */
  get isOpen(): boolean {
    return this.#state !== 'closed'
  }

  /** Runs `call` against the store unless the circuit is open; never throws. */
  async run<T>(call: () => Promise<T>): Promise<GuardOutcome<T>> {
    const probing = this.#state !== 'closed'
    if (probing) {
      if (this.#state === 'probing' || this.#now() < this.#retryAt) return this.#skip()
      this.#state = 'probing'
    }
    this.#calls++
    try {
      const value = await this.#withTimeout(call)
      if (probing) this.#recovered()
      return { ok: true, value }
    } catch (error) {
      this.#failed(error)
      return { ok: false, error, skipped: false }
    }
  }

  stats(): StoreGuardStats {
    return {
      calls: this.#calls,
      errors: this.#errors,
      timeouts: this.#timeouts,
      skipped: this.#skipped,
      outages: this.#outages,
      open: this.isOpen,
    }
  }

  #skip(): GuardOutcome<never> {
    this.#skipped++
    this.#skippedThisOutage++
    this.#remind()
    return { ok: false, error: new StoreSkippedError(`${this.name} is unavailable; not asked for ${this.#cooldownMs} ms after a failure`), skipped: true }
  }

  #withTimeout<T>(call: () => Promise<T>): Promise<T> {
    const pending = call()
    if (this.#timeoutMs <= 0) return pending
    return new Promise<T>((resolve, reject) => {
      const watch: Watch = { deadline: performance.now() + this.#timeoutMs, reject, prev: this.#last, next: undefined }
      if (this.#last === undefined) this.#first = watch
      else this.#last.next = watch
      this.#last = watch
      if (this.#timer === undefined) this.#arm(this.#timeoutMs)
      pending.then(
        (value) => {
          this.#unlink(watch)
          resolve(value)
        },
        (error: unknown) => {
          this.#unlink(watch)
          reject(error)
        },
      )
    })
  }

  // Every call has the same timeout, so deadlines come in call order: the calls
  // pending form a list, oldest first, and one timer set for the oldest serves
  // them all (no timer per call). A call that settles leaves the list at once,
  // so nothing outlives its call.
  #arm(ms: number): void {
    // Not unref'd: a store call that never settles must still time out. The
    // timer stops once no call is pending.
    this.#timer = setTimeout(this.#expire, Math.max(1, Math.ceil(ms)))
  }

  #unlink(watch: Watch): void {
    if (watch.prev === undefined && this.#first !== watch) return // already expired
    if (watch.prev) watch.prev.next = watch.next
    else this.#first = watch.next
    if (watch.next) watch.next.prev = watch.prev
    else this.#last = watch.prev
    watch.prev = undefined
    watch.next = undefined
  }

  readonly #expire = (): void => {
    this.#timer = undefined
    const now = performance.now()
    let watch = this.#first
    while (watch !== undefined && watch.deadline <= now) {
      const expired = watch
      watch = watch.next
      this.#unlink(expired)
      this.#timeouts++
      expired.reject(new StoreTimeoutError(`${this.name} did not answer within ${this.#timeoutMs} ms`))
    }
    if (this.#first !== undefined) this.#arm(this.#first.deadline - now)
  }

  #failed(error: unknown): void {
    this.#errors++
    const now = this.#now()
    this.#retryAt = now + this.#cooldownMs
    const wasHealthy = this.#state === 'closed'
    this.#state = 'open'
    if (wasHealthy) {
      this.#outages++
      this.#downSince = now
      this.#skippedThisOutage = 0
      this.#lastLog = now
      this.#logger.warn(
        { store: this.name, error: describe(error), cooldownMs: this.#cooldownMs },
        `${this.name} failed; using the fallback and asking it again in ${this.#cooldownMs} ms`,
      )
    } else {
      this.#remind()
    }
  }

  #remind(): void {
    const now = this.#now()
    if (now - this.#lastLog < this.#reminderMs) return
    this.#lastLog = now
    this.#logger.warn(
      { store: this.name, downForMs: now - this.#downSince, skipped: this.#skippedThisOutage },
      `${this.name} still unavailable`,
    )
  }

  #recovered(): void {
    this.#state = 'closed'
    this.#logger.warn(
      { store: this.name, downForMs: this.#now() - this.#downSince, skipped: this.#skippedThisOutage },
      `${this.name} recovered`,
    )
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error)
}
