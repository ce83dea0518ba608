/**
 * What the reference SaaS's watchers (metrics, the live view, tracing's hooks)
 * add to a tenant request, measured without sockets: `app.inject()` runs the
 * full Fastify request (resolution, key check, admission, handler, the scoped
 * query against the real database) in process, in pairs of adjacent blocks,
 * one with the watchers off and one with them on, in random order, so drift
 * and neighbours' noise fall on both alike. The figure is the median over
 * pairs of (off / on) process CPU per request.
 *
 * How the blocks are run matters more than the effect (a few µs on ~500):
 * - The event loop turns after every request. `inject()` resolves through
 *   promises alone, while each request also schedules `setImmediate` work
 *   (its body stream, its null socket); a loop that never yields piles those
 *   up (about 9.5 KB a request), the heap grows all run long, and CPU per
 *   request drifts up by 15 %. A server turns its loop on every request too.
 * - Blocks have random lengths and each pair a random order: periodic work
 *   (a scavenge, a batch of metrics counted every 256 requests) cannot line up
 *   with block boundaries, nor "second in the pair" with one variant.
 * - A control run of the same pairs with the watchers off in both blocks
 *   gives the noise floor (its ratio should be 1).
 */
import type { Saas } from '@tenantry/saas'
import { performance } from 'node:perf_hooks'
import { median } from '../harness/rounds.ts'
import type { HttpTarget } from './setup.ts'

export interface PairedRatio {
  /** Median over pairs of CPU per request of the baseline block / the variant block (≥ 1: the variant costs nothing). */
  readonly ratio: number
  /** The ratio's interquartile range over pairs. */
  readonly q1: number
  readonly q3: number
  /** Median CPU µs per request of the baseline blocks and of the variant blocks. */
  readonly offUs: number
  readonly onUs: number
  /** Median of (variant − baseline) CPU µs per request. */
  readonly addedUs: number
  /**
   * Mean µs per request over all the baseline blocks / over all the variant
   * blocks (total time / total requests on each side): unlike the median, it
   * counts every block in full, so work that comes in bursts (a batch counted
   * every 256 requests, a scavenge) weighs in as it falls.
   */
  readonly totalRatio: number
  /** Total µs / total requests of the baseline blocks and of the variant blocks. */
  readonly offMeanUs: number
  readonly onMeanUs: number
}

export interface ObserverCost extends PairedRatio {
  /** The same pairs with the watchers off in both blocks: the measurement's own noise. */
  readonly control: PairedRatio
  readonly pairs: number
  /** Requests per block: from `minBlock` to `2 × minBlock` (random). */
  readonly minBlock: number
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/** CPU µs per request over `requests` requests (the event loop turned after each). */
async function block(saas: Saas, target: HttpTarget, requests: number, offset: number): Promise<Measured> {
  const cpu = process.cpuUsage()
  for (let i = 0; i < requests; i++) {
    const path = target.paths[(offset + i) % target.paths.length] as string
    const answer = await saas.app.inject({ method: 'GET', url: path, headers: { host: target.host, authorization: target.authorization as string } })
    if (answer.statusCode !== 200) throw new Error(`observer cost: GET ${path} answered ${answer.statusCode} ${answer.body}`)
    await turn()
  }
  const used = process.cpuUsage(cpu)
  return { us: used.user + used.system, requests }
}

/** A seeded generator (the run's pair orders and block lengths can be replayed). */
function seeded(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0
    return state / 2 ** 32
  }
}

function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.round(q * (sorted.length - 1))] as number
}

/** What one block took: µs (of CPU, or of main-thread busy time) over how many requests. */
interface Measured {
  readonly us: number
  readonly requests: number
}

/** Measures one block of `size` (requests, or ms) with the variant set as asked. */
type Block = (size: number) => Promise<Measured>

/**
 * Pairs of adjacent blocks, `variant` on in one of each pair (random order),
 * off in the other, until `more(pair)` says stop; each pair's blocks are as
 * long as `size()` draws.
 */
async function pairedRatio(set: (on: boolean) => void, variant: boolean, block: Block, size: () => number, more: (pair: number) => boolean, random: () => number): Promise<PairedRatio & { readonly pairs: number }> {
  const ratios: number[] = []
  const added: number[] = []
  const off: number[] = []
  const on: number[] = []
  // Totals on each side: µs and requests.
  const base = { us: 0, requests: 0 }
  const varied = { us: 0, requests: 0 }
  for (let pair = 0; more(pair); pair++) {
    const length = size()
    const variantFirst = random() < 0.5
    let baseUs = 0
    let variantUs = 0
    for (const isVariant of variantFirst ? [true, false] : [false, true]) {
      set(isVariant ? variant : false)
      const measured = await block(length)
      const side = isVariant ? varied : base
      side.us += measured.us
      side.requests += measured.requests
      const us = measured.us / Math.max(1, measured.requests)
      if (isVariant) variantUs = us
      else baseUs = us
    }
    ratios.push(baseUs / variantUs)
    added.push(variantUs - baseUs)
    off.push(baseUs)
    on.push(variantUs)
  }
  set(false)
  return { ratio: median(ratios), q1: quantile(ratios, 0.25), q3: quantile(ratios, 0.75), offUs: median(off), onUs: median(on), addedUs: median(added), totalRatio: (base.us / base.requests) / (varied.us / varied.requests), offMeanUs: base.us / base.requests, onMeanUs: varied.us / varied.requests, pairs: ratios.length }
}

/**
 * The watchers' cost (off / on, median over `pairs` pairs) and the control
 * (off / off) over as many pairs, after a warm-up of both.
 */
export async function measureObserverCost(saas: Saas, target: HttpTarget, pairs: number, minBlock: number, seed = 14): Promise<ObserverCost> {
  const set = switchOf(saas)
  let offset = 0
  const requests: Block = async (n) => {
    const measured = await block(saas, target, n, offset)
    offset += n
    return measured
  }
  for (const on of [false, true, false, true]) {
    set(on)
    await requests(minBlock)
  }
  const random = seeded(seed)
  const size = (): number => minBlock + Math.floor(random() * (minBlock + 1))
  const measured = await pairedRatio(set, true, requests, size, (pair) => pair < pairs, random)
  const control = await pairedRatio(set, false, requests, size, (pair) => pair < pairs, random)
  return { ...measured, control, pairs, minBlock }
}

function switchOf(saas: Saas): (on: boolean) => void {
  const observability = saas.observability
  if (observability === undefined) throw new Error('the SaaS runs without observability')
  return (on) => observability.setEnabled(on)
}

/** The watchers' cost over HTTP: see `measureObserverCostOverHttp`. */
export interface HttpObserverCost extends PairedRatio {
  readonly pairs: number
  readonly seconds: number
  readonly connections: number
  /** Requests per second over the whole load (both halves). */
  readonly rps: number
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * The watchers' cost over HTTP, as a server sees it: one steady load on
 * `target` (autocannon in a worker thread, `connections` keep-alive
 * connections) for `seconds`, during which the watchers are switched on and
 * off in pairs of adjacent blocks of 250 to 500 ms (random length and order).
 * Each block is the server's main-thread busy time (event-loop utilization)
 * per request it received; a block starts 20 ms after the switch, so the
 * requests in flight at the switch finish first. The load never stops, so
 * every block sees the same connections, the same PostgreSQL backends and the
 * same neighbours: what differs between the halves of a pair is the watchers.
 */
export async function measureObserverCostOverHttp(saas: Saas, target: HttpTarget, drive: (seconds: number) => Promise<{ requests: number; seconds: number }>, seconds: number, connections: number, seed = 15): Promise<HttpObserverCost> {
  const set = switchOf(saas)
  let received = 0
  const count = (): void => {
    received++
  }
  const server = saas.app.server
  server.on('request', count)
  try {
    const load = drive(seconds)
    // Connections open and warm before the first block.
    await sleep(Math.min(3000, seconds * 250))
    const until = Date.now() + seconds * 1000 - Math.min(5000, seconds * 250) - 1000
    const random = seeded(seed)
    const busy: Block = async (ms) => {
      await sleep(20)
      const from = performance.eventLoopUtilization()
      const before = received
      await sleep(ms)
      const used = performance.eventLoopUtilization(from)
      return { us: used.active * 1000, requests: received - before }
    }
    const measured = await pairedRatio(set, true, busy, () => 250 + Math.floor(random() * 251), () => Date.now() < until, random)
    const result = await load
    return { ...measured, seconds, connections, rps: result.requests / result.seconds }
  } finally {
    set(false)
    server.off('request', count)
  }
}
