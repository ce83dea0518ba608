/**
 * A small seeded generator (mulberry32): the same seed gives the same tenant
 * popularity order in every run, so runs compare.
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/**
 * Zipf-distributed ranks: rank k (0-based) comes up with probability
 * ∝ 1 / (k + 1)^s, the usual shape of tenant traffic (a few busy tenants, a
 * long tail of quiet ones).
 *
 * @example
 * const zipf = new ZipfSampler(500, 1.1, seededRandom(7))
 * const tenant = tenants[zipf.next()]
 */
export class ZipfSampler {
  readonly size: number
  readonly exponent: number
  readonly #cdf: Float64Array
  readonly #random: () => number

  constructor(size: number, exponent: number, random: () => number) {
    if (!Number.isInteger(size) || size < 1) throw new Error('ZipfSampler: size must be a positive integer')
    this.size = size
    this.exponent = exponent
    this.#random = random
    this.#cdf = new Float64Array(size)
    let sum = 0
    for (let k = 0; k < size; k++) {
      sum += 1 / (k + 1) ** exponent
      this.#cdf[k] = sum
    }
    for (let k = 0; k < size; k++) this.#cdf[k] = (this.#cdf[k] as number) / sum
  }

  /** The next rank, 0 (most popular) to size - 1. */
  next(): number {
    const u = this.#random()
    let lo = 0
    let hi = this.size - 1
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if ((this.#cdf[mid] as number) < u) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  /** The share of all draws that goes to the `top` most popular ranks. */
  share(top: number): number {
    if (top <= 0) return 0
    return this.#cdf[Math.min(top, this.size) - 1] as number
  }
}

/** A random permutation of 0..n-1 (Fisher-Yates). */
export function shuffledIndexes(n: number, random: () => number): number[] {
  const order = Array.from({ length: n }, (_, i) => i)
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[order[i], order[j]] = [order[j] as number, order[i] as number]
  }
  return order
}
