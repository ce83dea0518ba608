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
async function block(saas: Saas, target: HttpTarget, requests: number, offset: number): Promise<number> {
  const cpu = process.cpuUsage()
  for (let i = 0; i < requests; i++) {
    const path = target.paths[(offset + i) % target.paths.length] as string
    const answer = await saas.app.inject({ method: 'GET', url: path, headers: { host: target.host, authorization: target.authorization as string } })
    if (answer.statusCode !== 200) throw new Error(`observer cost: GET ${path} answered ${answer.statusCode} ${answer.body}`)
    await turn()
  }
  const used = process.cpuUsage(cpu)
  return (used.user + used.system) / requests
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

/** `pairs` pairs of adjacent blocks, `variant` on in one of each pair (random order), off in the other. */
async function pairedRatio(saas: Saas, target: HttpTarget, set: (on: boolean) => void, variant: boolean, pairs: number, minBlock: number, random: () => number): Promise<PairedRatio> {
  const ratios: number[] = []
  const added: number[] = []
  const off: number[] = []
  const on: number[] = []
  let offset = 0
  for (let pair = 0; pair < pairs; pair++) {
    const requests = minBlock + Math.floor(random() * (minBlock + 1))
    const variantFirst = random() < 0.5
    let baseUs = 0
    let variantUs = 0
    for (const isVariant of variantFirst ? [true, false] : [false, true]) {
      set(isVariant ? variant : false)
      const us = await block(saas, target, requests, offset)
      if (isVariant) variantUs = us
      else baseUs = us
    }
    offset += requests
    ratios.push(baseUs / variantUs)
    added.push(variantUs - baseUs)
    off.push(baseUs)
    on.push(variantUs)
  }
  set(false)
  return { ratio: median(ratios), q1: quantile(ratios, 0.25), q3: quantile(ratios, 0.75), offUs: median(off), onUs: median(on), addedUs: median(added) }
}

/**
 * The watchers' cost (off / on, median over `pairs` pairs) and the control
 * (off / off) over as many pairs, after a warm-up of both.
 */
export async function measureObserverCost(saas: Saas, target: HttpTarget, pairs: number, minBlock: number, seed = 14): Promise<ObserverCost> {
  const observability = saas.observability
  if (observability === undefined) throw new Error('the SaaS runs without observability')
  const set = (on: boolean): void => observability.setEnabled(on)
  for (const on of [false, true, false, true]) {
    set(on)
    await block(saas, target, minBlock, 0)
  }
  const random = seeded(seed)
  const measured = await pairedRatio(saas, target, set, true, pairs, minBlock, random)
  const control = await pairedRatio(saas, target, set, false, pairs, minBlock, random)
  return { ...measured, control, pairs, minBlock }
}
