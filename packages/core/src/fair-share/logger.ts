/**
 * Where the fair-share parts (rate limiter, bulkhead, tenant cache) report trouble
 * such as an unreachable Redis. The shape is pino's (`warn(details, message)`), so
 * a pino logger fits as is; so does `console`.
 *
 * @example
 * const limiter = new RateLimiter({ store, plans, logger: pino() })
 */
export interface FairShareLogger {
  warn(details: Record<string, unknown>, message: string): void
}

/** Says nothing: the default when no logger is given (counters still count). */
export const silentLogger: FairShareLogger = { warn() {} }
