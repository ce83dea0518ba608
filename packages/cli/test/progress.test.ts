import assert from 'node:assert/strict'
import { PassThrough } from 'node:stream'
import { describe, it } from 'node:test'
import { TenantryError } from '@tenantry/core'
import type { MigrationTarget, TargetOutcome } from '@tenantry/postgres'
import { formatStatus, progressView } from '../src/index.ts'

function capture(tty = false): { stream: PassThrough & { isTTY?: boolean }; text: () => string } {
  const stream = new PassThrough() as PassThrough & { isTTY?: boolean }
  if (tty) stream.isTTY = true
  let text = ''
  stream.on('data', (chunk: Buffer) => { text += chunk })
  return { stream, text: () => text }
}

const target = (slug: string): MigrationTarget => ({
  set: 'tenant', key: slug, model: 'schema', ledger: 'control', label: `tenant ${slug} (schema)`, connect: () => Promise.reject(new Error('unused')),
})
const ok = (slug: string): TargetOutcome => ({ target: target(slug), status: 'migrated', done: ['0001'], durationMs: 5 })
const failed = (slug: string): TargetOutcome => ({
  target: target(slug), status: 'failed', done: [], durationMs: 5, failedMigration: '0002_tasks',
  error: new TenantryError('MIGRATION_FAILED', 'Migration "0002_tasks" failed on tenant umbrella (schema): boom'),
})

describe('migration progress', () => {
  it('prints plain lines with counts, rate and ETA, each failure, and a summary when not on a terminal', () => {
    const out = capture()
    const err = capture()
    const view = progressView({ out: out.stream, err: err.stream, lineEveryMs: 0 })
    view.onEvent({ type: 'plan', phase: 'tenants', targets: 3 })
    view.onEvent({ type: 'target-done', outcome: ok('acme') })
    view.onEvent({ type: 'target-done', outcome: failed('umbrella') })
    view.onEvent({ type: 'target-done', outcome: ok('globex') })
    view.finish({ visited: 3, migrated: 2, current: 0, failed: [failed('umbrella')], skipped: 0, durationMs: 1234, ok: false })
    const lines = out.text().trim().split('\n')
    assert.equal(lines[0], 'tenants: 3 targets to migrate')
    assert.match(lines[1]!, /^1\/3 targets, 0 failed, [\d.]+\/s, ETA /)
    assert.match(lines[3]!, /^3\/3 targets, 1 failed/)
    assert.equal(lines[4], 'stopped: 2 migrated, 0 already current, 1 failed in 1.2 s')
    assert.match(lines[5]!, /failed: tenant umbrella \(schema\) at 0002_tasks: Migration "0002_tasks" failed/)
    assert.match(err.text(), /^FAILED tenant umbrella \(schema\) at 0002_tasks/)
  })

  it('draws a bar on a terminal', () => {
    const out = capture(true)
    const err = capture()
    const view = progressView({ out: out.stream, err: err.stream })
    view.onEvent({ type: 'plan', phase: 'tenants', targets: 2 })
    view.onEvent({ type: 'target-done', outcome: ok('acme') })
    view.onEvent({ type: 'target-done', outcome: ok('globex') })
    view.finish({ visited: 2, migrated: 2, current: 0, failed: [], skipped: 0, durationMs: 10, ok: true })
    assert.match(out.text(), /2\/2 targets \| [\d.]+\/s \| ETA \S+ \| failed 0/)
    assert.match(out.text(), /done: 2 migrated, 0 already current, 0 failed/)
  })

  it('formats status as a migration x applied / pending / failed table with the failures', () => {
    const text = formatStatus({
      control: [],
      targets: 3,
      tenant: [{ id: '0001_projects', applied: 3, pending: 0, failed: 0 }, { id: '0002_tasks', applied: 1, pending: 1, failed: 1 }],
      failures: [{ target: 'x', label: 'umbrella (schema)', migration: '0002_tasks', error: 'boom', at: new Date('2026-01-01T00:00:00Z') }],
    })
    assert.match(text, /0001_projects\s+3\s+0\s+0/)
    assert.match(text, /0002_tasks\s+1\s+1\s+1/)
    assert.match(text, /failed targets \(1\):\n  umbrella \(schema\)  0002_tasks  2026-01-01T00:00:00.000Z  boom/)
  })
})
