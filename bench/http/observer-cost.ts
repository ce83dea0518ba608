/**
 * What the reference SaaS's watchers (metrics, the live view, tracing's hooks)
 * add to a tenant request, measured without sockets: `app.inject()` runs the
 * full Fastify request (resolution, key check, admission, handler, the scoped
 * query against the real database) in process, in blocks alternating watchers
 * off and on, so drift and neighbours' noise fall on both alike. The figure is
 * the median over block pairs of (on / off) process CPU per request.
 */
import type { Saas } from '@tenantry/saas'
import { median } from '../harness/rounds.ts'
import type { HttpTarget } from './setup.ts'

export interface ObserverCost {
  /** Median over block pairs of CPU µs per request with the watchers on / off. */
  readonly ratio: number
  readonly offUs: number
  readonly onUs: number
  /** Median of (on − off) CPU µs per request. */
  readonly addedUs: number
  readonly pairs: number
  readonly perBlock: number
}

async function block(saas: Saas, target: HttpTarget, requests: number, offset: number): Promise<number> {
  const cpu = process.cpuUsage()
  for (let i = 0; i < requests; i++) {
    const path = target.paths[(offset + i) % target.paths.length] as string
    const answer = await saas.app.inject({ method: 'GET', url: path, headers: { host: target.host, authorization: target.authorization as string } })
    if (answer.statusCode !== 200) throw new Error(`observer cost: GET ${path} answered ${answer.statusCode} ${answer.body}`)
  }
  const used = process.cpuUsage(cpu)
  return (used.user + used.system) / requests
}

/**
 * Alternates `pairs` pairs of blocks (order flipped every pair) of `perBlock`
 * requests with the watchers off and on; returns the median ratio.
 */
export async function measureObserverCost(saas: Saas, target: HttpTarget, pairs: number, perBlock: number): Promise<ObserverCost> {
  const observability = saas.observability
  if (observability === undefined) throw new Error('the SaaS runs without observability')
  observability.setEnabled(false)
  await block(saas, target, perBlock, 0)
  observability.setEnabled(true)
  await block(saas, target, perBlock, 0)
  const off: number[] = []
  const on: number[] = []
  for (let pair = 0; pair < pairs; pair++) {
    for (const enabled of pair % 2 === 0 ? [false, true] : [true, false]) {
      observability.setEnabled(enabled)
      const us = await block(saas, target, perBlock, pair * perBlock)
      ;(enabled ? on : off).push(us)
    }
  }
  observability.setEnabled(false)
  return {
    ratio: median(on.map((u, i) => (off[i] as number) / u)),
    offUs: median(off),
    onUs: median(on),
    addedUs: median(on.map((u, i) => u - (off[i] as number))),
    pairs,
    perBlock,
  }
}
