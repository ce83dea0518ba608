import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, it } from 'node:test'
import { postgresTarget } from '@tenantry/postgres'
import pg from 'pg'

const url = process.env.TENANTRY_PG_URL

describe('postgresTarget', { skip: url ? false : 'needs TENANTRY_PG_URL (a server to kill a connection on)' }, () => {
  it('survives the server closing an idle pooled connection, and reports it', async () => {
    const seen: Error[] = []
    const target = postgresTarget({ connectionString: url!, max: 2, application_name: 'tenantry_idle_test' }, { onIdleError: (e) => seen.push(e) })
    try {
      const client = await target.pool.connect()
      const pid = (await client.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid
      client.release()
      const admin = new pg.Client({ connectionString: url })
      await admin.connect()
      await admin.query('select pg_terminate_backend($1)', [pid])
      await admin.end()
      for (let i = 0; i < 50 && seen.length === 0; i++) await sleep(20)
      assert.equal(seen.length, 1)
      assert.deepEqual((await target.pool.query('select 1 as ok')).rows, [{ ok: 1 }])
    } finally {
      await target.pool.end()
    }
  })
})
