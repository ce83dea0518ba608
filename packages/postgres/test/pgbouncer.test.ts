/**
 * Tenantry behind PgBouncer in transaction mode, on a real PostgreSQL server:
 * every model's runtime traffic (the shared and schema models' runtime login,
 * the database model's tenant roles through the pool router) goes through a
 * PgBouncer that keeps 3 server connections per database and user, with many
 * more clients than that. Each tenant's statements and transactions, through
 * the Kysely path and the pg.Pool path, interleaved across tenants, see
 * exactly their own scope (tenant setting, role, search_path, database) and
 * rows; between transactions the server connections carry nothing; the
 * conformance kit passes through PgBouncer for each model. A negative control
 * shows the harness catches the leak it looks for (session-level SET through
 * a transaction pooler).
 *
 * Session state a tenant's opaque SQL leaves on the Kysely path (a setting, a
 * WITH HOLD cursor holding A's rows) is reset in the same round trip as the
 * statement (or its COMMIT), before PgBouncer can hand the server connection
 * on. Named prepared statements (the default statementCache) cannot cross
 * PgBouncer < 1.21 in transaction mode: `database.pooler: 'transaction'`
 * turns the cache off, and a cache left on is refused with a message that says
 * so. A tenant's SQL cannot give the shared runtime role a session default
 * (ALTER ROLE is refused in a tenant scope), which PgBouncer's later server
 * connections would log in with. Migrations, installs and the fleet lock
 * need a session: with `database.directUrl` they go around PgBouncer while
 * tenant traffic goes through it, and without it they are refused before
 * anything is written (docs/pgbouncer.md).
 *
 * Runs when TENANTRY_PG_URL and TENANTRY_PGBOUNCER are set (CI sets both).
 */
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { runWithTenant, type IsolationModelName, type ScopedTenant } from '@tenantry/core'
import { trusted } from '@tenantry/kysely'
import { detectTransactionPooler, postgresTarget, tenantRoleName } from '@tenantry/postgres'
import { acquireFleetLock, migrationLockKey, type FleetLock } from '@tenantry/postgres/internal'
import { checkTenantIsolation, formatConformanceFailures } from '@tenantry/postgres/testing'
import { sql, type Kysely } from 'kysely'
import pg from 'pg'
import { createTenantry, type Tenantry, type TenantryConfig } from 'tenantry'
import {
  CONFORMANCE_TABLES, conformanceTablesSql, dropRoles, expectCode, openModels, pgBouncerUnsupported, startPgBouncer, testBackends, uniqueName, type PgBouncer, type TestDatabase, type TestModels,
} from '@tenantry/test-kit'

/** Server connections PgBouncer keeps per database and user: far fewer than the clients. */
const POOL_SIZE = 3
const TENANT_OPERATIONS = 30

const conformanceTables = conformanceTablesSql
const SHARED_SQL = `create type priority as enum ('low', 'high');
  ${conformanceTables(' tenant_id uuid not null,')}
  create table notes (tenant_id uuid not null, id int generated always as identity, name text not null, primary key (tenant_id, id));`
const placedSql = (slug: string) => `create type priority as enum ('low', 'high'); ${conformanceTables('')}
  create table notes (id int generated always as identity primary key, name text not null);
  insert into notes (name) values ('${slug}-1'), ('${slug}-2'), ('${slug}-3');`

interface Probe {
  /** The tenant of the signed scope token in force ('' or null: none). */
  scope: string | null
  who: string
  path: string
  dbname: string
  pid: number
  names: string[]
}

/** One statement: the scope it runs in, the server connection it runs on, and the rows it can read. */
const PROBE_SQL = `select nullif(pg_catalog.split_part(pg_catalog.current_setting('tenantry.scope', true), '.', 2), '') as scope,
  current_user::text as who, pg_catalog.current_setting('search_path') as path, pg_catalog.current_database()::text as dbname,
  pg_catalog.pg_backend_pid() as pid, array(select name from notes order by name) as names`

/** What a server connection still carries between transactions, as the login sees it. */
interface Leftovers {
  pid: number
  /** Everything found; empty for a clean connection. */
  found: string[]
}

/** pgbouncer sets these itself on its server connections (its tracked client parameters). */
const POOLER_PARAMETERS = ['client_encoding', 'datestyle', 'timezone', 'standard_conforming_strings', 'application_name']

async function leftoversOn(client: pg.ClientBase, placeholders: readonly string[]): Promise<Leftovers> {
  const { rows } = await client.query<{ pid: number; who: string; login: string; session: string[]; custom: (string | null)[]; prepared: number; cursors: number; listening: string[]; advisory: number; temp: number }>(
    `select pg_catalog.pg_backend_pid() as pid, current_user::text as who, session_user::text as login,
       array(select s.name || '=' || s.setting from pg_catalog.pg_settings s
              where s.source = 'session' and pg_catalog.lower(s.name) <> all ($1::text[]) order by 1) as session,
       array(select pg_catalog.current_setting(n, true) from pg_catalog.unnest($2::text[]) n) as custom,
       (select count(*)::int from pg_catalog.pg_prepared_statements) as prepared,
       (select count(*)::int from pg_catalog.pg_cursors c where c.name <> '') as cursors,
       array(select pg_catalog.pg_listening_channels()) as listening,
       (select count(*)::int from pg_catalog.pg_locks l where l.locktype = 'advisory' and l.pid = pg_catalog.pg_backend_pid()) as advisory,
       (select count(*)::int from pg_catalog.pg_class c where c.relpersistence = 't' and pg_catalog.pg_table_is_visible(c.oid)) as temp`,
    [POOLER_PARAMETERS, placeholders],
  )
  const row = rows[0]!
  const found: string[] = []
  if (row.who !== row.login) found.push(`role ${row.who} (login ${row.login})`)
  for (const setting of row.session) found.push(`session setting ${setting}`)
  placeholders.forEach((name, i) => {
    const value = row.custom[i]
    if (value !== null && value !== undefined && value !== '') found.push(`${name} = ${value}`)
  })
  if (row.prepared > 0) found.push(`${row.prepared} prepared statement(s)`)
  if (row.cursors > 0) found.push(`${row.cursors} cursor(s)`)
  if (row.listening.length > 0) found.push(`listening on ${row.listening.join(', ')}`)
  if (row.advisory > 0) found.push(`${row.advisory} advisory lock(s)`)
  if (row.temp > 0) found.push(`${row.temp} temporary relation(s)`)
  return { pid: row.pid, found }
}

/**
 * What every server connection of one PgBouncer pool (database, user) carries:
 * `count` raw clients each open a transaction at once, so each holds a server
 * connection of its own (the pool's every one when `count` is its size).
 */
async function leftoversOfPool(url: string, placeholders: readonly string[], count = POOL_SIZE): Promise<Leftovers[]> {
  const clients = Array.from({ length: count }, () => new pg.Client({ connectionString: url }))
  try {
    for (const client of clients) {
      client.on('error', () => undefined)
      await client.connect()
    }
    for (const client of clients) await client.query('begin')
    return await Promise.all(clients.map((client) => leftoversOn(client, placeholders)))
  } finally {
    await Promise.all(clients.map(async (client) => {
      await client.query('rollback').catch(() => undefined)
      await client.end().catch(() => undefined)
    }))
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const pgUrl = process.env.TENANTRY_PG_URL
const skip = pgUrl ? pgBouncerUnsupported() : 'TENANTRY_PG_URL is not set (PgBouncer tests need a PostgreSQL server)'

describe('Tenantry behind PgBouncer in transaction mode', { skip }, () => {
  const role = uniqueName('tenantry_app')
  let database: TestDatabase
  let databaseName: string
  let direct: TestModels
  let bouncer: PgBouncer
  let tenantry: Tenantry
  const tenants: Record<IsolationModelName, ScopedTenant[]> = { shared: [], schema: [], database: [] }
  const all = (): ScopedTenant[] => [...tenants.shared, ...tenants.schema, ...tenants.database]
  const modelOf = (tenant: ScopedTenant): IsolationModelName => tenant.isolation ?? 'shared'
  /** The login a tenant's server connections belong to. */
  const loginOf = (tenant: ScopedTenant): string => (modelOf(tenant) === 'database' ? tenantRoleName(role, tenant) : role)
  const databaseOf = (tenant: ScopedTenant): string => (modelOf(tenant) === 'database' ? tenant.placement!.database! : databaseName)

  /** What a tenant's statement must see. */
  function expected(tenant: ScopedTenant): Omit<Probe, 'pid'> {
    const model = modelOf(tenant)
    return {
      scope: model === 'database' ? null : tenant.id,
      who: loginOf(tenant),
      path: model === 'schema' ? `${tenant.placement!.schema!}, pg_temp` : '"public", pg_temp',
      dbname: databaseOf(tenant),
      names: [1, 2, 3].map((n) => `${tenant.slug}-${n}`),
    }
  }

  before(async () => {
    const backend = testBackends().find((b) => b.name === 'postgres')!
    database = await backend.createDatabase()
    databaseName = new URL(database.url!).pathname.slice(1)
    const server = new URL(pgUrl!)
    // First, so that a TENANTRY_PGBOUNCER that cannot run fails the suite before anything is built.
    bouncer = await startPgBouncer({
      server: pgUrl,
      users: ['postgres', role],
      poolSize: POOL_SIZE,
      // The negative control's own pool: one server connection, so the next client gets it.
      databases: { leak_probe: `host=${server.hostname} port=${server.port || 5432} dbname=${databaseName} pool_size=1` },
    })
    await database.pool.query(SHARED_SQL)
    // Installed and provisioned directly (as the owner, not through PgBouncer).
    direct = await openModels(backend, database, { role, shared: { tables: [...CONFORMANCE_TABLES, 'notes'] } })
    for (const model of ['shared', 'schema', 'database'] as const) {
      for (const n of [1, 2]) {
        const slug = `${model}${n}-${randomUUID().slice(0, 6)}`
        let tenant: ScopedTenant = { id: randomUUID(), slug, status: 'active', isolation: model }
        const setup = async (client: pg.ClientBase) => {
          await client.query(placedSql(slug))
        }
        if (model === 'shared') {
          await database.pool.query(`insert into notes (tenant_id, name) select $1, $2 || '-' || n from generate_series(1, 3) n`, [tenant.id, slug])
        } else if (model === 'schema') {
          tenant = { ...tenant, placement: await direct.schemas.provision(tenant, setup) }
        } else {
          tenant = { ...tenant, placement: await direct.databases.provision(tenant, setup) }
        }
        tenants[model].push(tenant)
      }
    }
    // The database tenants' roles, added once they exist (the auth file is rewritten and reloaded).
    await bouncer.allowUsers(tenants.database.map((t) => tenantRoleName(role, t)))
    // The application's Tenantry, with DATABASE_URL pointing at PgBouncer: the owner's pool,
    // the runtime login's pool and the router's tenant databases all go through it.
    tenantry = await createTenantry({
      // Named prepared statements cannot cross PgBouncer < 1.21 in transaction mode (see the last tests): pooler turns the statement cache off.
      database: { url: bouncer.url(databaseName), poolSize: 12, pooler: 'transaction' },
      models: { shared: { tables: [...CONFORMANCE_TABLES, 'notes'] }, schema: true, database: { budget: 40, maxPerDatabase: 8 } },
      runtimeRole: role,
      migrate: false,
      install: false,
      doctor: 'off',
      auditSystemScopes: false,
    })
  })

  after(async () => {
    await tenantry?.close()
    await bouncer?.stop()
    for (const tenant of tenants.database) await direct?.databases.deprovision(tenant).catch(() => undefined)
    await direct?.close()
    if (database) {
      await dropRoles(database, [role])
      await database.close()
    }
  })

  /** Every probe seen, by tenant id, to check the server connections were shared. */
  const seen = new Map<string, Probe[]>()

  function check(tenant: ScopedTenant, probe: Probe, what: string): void {
    const pid = probe.pid
    assert.deepEqual({ ...probe, pid: undefined }, { ...expected(tenant), pid: undefined }, `${what} of ${tenant.slug} (${modelOf(tenant)}) on server pid ${pid}`)
    const list = seen.get(tenant.id) ?? []
    list.push(probe)
    seen.set(tenant.id, list)
  }

  /** One tenant operation of kind `kind`, checking what it sees. */
  async function operation(tenant: ScopedTenant, kind: number): Promise<void> {
    const db = tenantry.db as Kysely<any>
    const pool = tenantry.pool
    await runWithTenant(tenant, async () => {
      switch (kind % 5) {
        case 0: {
          // Kysely, one statement: the preamble and the statement in one pipelined implicit transaction.
          const { rows } = await trusted(sql<Probe>`${sql.raw(PROBE_SQL)}`).execute(db)
          check(tenant, rows[0]!, 'a Kysely statement')
          const names = await db.selectFrom('notes').select('name').orderBy('name').execute()
          assert.deepEqual(names.map((r) => r.name), expected(tenant).names, `Kysely builder rows of ${tenant.slug}`)
          break
        }
        case 1: {
          // Kysely, an explicit transaction held across an await: BEGIN and the preamble in one round trip.
          await db.transaction().execute(async (trx) => {
            const first = (await trusted(sql<Probe>`${sql.raw(PROBE_SQL)}`).execute(trx)).rows[0]!
            check(tenant, first, 'a Kysely transaction')
            await sleep(Math.random() * 4)
            const names = await trx.selectFrom('notes').select('name').orderBy('name').execute()
            assert.deepEqual(names.map((r) => r.name), expected(tenant).names)
            const last = (await trusted(sql<Probe>`${sql.raw(PROBE_SQL)}`).execute(trx)).rows[0]!
            check(tenant, last, 'the end of a Kysely transaction')
            assert.equal(last.pid, first.pid, 'a transaction stays on one server connection')
          })
          break
        }
        case 2: {
          // pg.Pool path, one statement: BEGIN, preamble, statement, COMMIT and reset in one round trip.
          const { rows } = await pool.query<Probe>(PROBE_SQL)
          check(tenant, rows[0]!, 'a TenantPool statement')
          break
        }
        case 3: {
          // pg.Pool path, a checked-out client with BEGIN … COMMIT held across awaits.
          const client = await pool.connect()
          try {
            await client.query('begin')
            const first = (await client.query<Probe>(PROBE_SQL)).rows[0]!
            check(tenant, first, 'a TenantPool client transaction')
            await sleep(Math.random() * 4)
            const last = (await client.query<Probe>(PROBE_SQL)).rows[0]!
            check(tenant, last, 'the end of a TenantPool client transaction')
            assert.equal(last.pid, first.pid, 'a transaction stays on one server connection')
            await client.query('commit')
            // Outside a transaction on the same client: each statement its own transaction.
            check(tenant, (await client.query<Probe>(PROBE_SQL)).rows[0]!, 'a TenantPool client statement')
          } finally {
            client.release()
          }
          break
        }
        default: {
          // A write and a read back in one Kysely transaction, rolled back.
          await db.transaction().execute(async (trx) => {
            await trx.insertInto('notes').values({ name: `${tenant.slug}-tmp` }).execute()
            const names = await trx.selectFrom('notes').select('name').orderBy('name').execute()
            assert.deepEqual(names.map((r) => r.name), [...expected(tenant).names, `${tenant.slug}-tmp`].sort())
            await trx.deleteFrom('notes').where('name', '=', `${tenant.slug}-tmp`).execute()
          })
        }
      }
    })
  }

  it(`keeps ${6} tenants × ${TENANT_OPERATIONS} concurrent operations (Kysely and pg.Pool, statements and transactions) each in its own scope and rows, over ${POOL_SIZE} server connections per login`, async () => {
    assert.equal(all().length, 6)
    const work = all().flatMap((tenant, t) => Array.from({ length: TENANT_OPERATIONS }, (_, i) => operation(tenant, i + t)))
    const outcomes = await Promise.allSettled(work)
    const failures = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected').map((o) => (o.reason as Error).message)
    assert.deepEqual(failures.slice(0, 5), [], `${failures.length} of ${outcomes.length} operations failed`)

    // The test means something only if tenants really shared server connections.
    const sharedLogin = [...tenants.shared, ...tenants.schema]
    const pidsByTenant = new Map(sharedLogin.map((t) => [t.id, new Set((seen.get(t.id) ?? []).map((p) => p.pid))]))
    const pids = new Set([...pidsByTenant.values()].flatMap((s) => [...s]))
    assert.ok(pids.size <= POOL_SIZE, `the runtime login used ${pids.size} server connections, PgBouncer allows ${POOL_SIZE}`)
    const crossed = [...pids].filter((pid) => [...pidsByTenant.values()].filter((s) => s.has(pid)).length >= 2)
    assert.ok(crossed.length > 0, 'no server connection served two tenants: PgBouncer did not multiplex')
    for (const tenant of tenants.database) {
      const own = new Set((seen.get(tenant.id) ?? []).map((p) => p.pid))
      assert.ok(own.size <= POOL_SIZE, `${tenant.slug} used ${own.size} server connections`)
    }
    const pools = await bouncer.admin<{ database: string; user: string; cl_active: string; sv_active: string; sv_idle: string; sv_used: string }>('SHOW POOLS')
    const runtimePool = pools.find((p) => p.database === databaseName && p.user === role)
    assert.ok(runtimePool, `PgBouncer has a pool for ${databaseName}/${role}: ${JSON.stringify(pools)}`)
    const servers = Number(runtimePool.sv_active) + Number(runtimePool.sv_idle) + Number(runtimePool.sv_used)
    assert.ok(servers <= POOL_SIZE, `${servers} server connections in the runtime pool`)
    const clients = await bouncer.admin<{ database: string; user: string }>('SHOW CLIENTS')
    assert.ok(clients.filter((c) => c.database === databaseName && c.user === role).length > POOL_SIZE, 'more clients than server connections')
  })

  it('leaves nothing on any server connection between transactions: no tenant setting, login role, default search_path, no prepared statement', async () => {
    const checked: string[] = []
    const logins = [
      { label: 'runtime login', url: bouncer.url(databaseName, role), used: [...tenants.shared, ...tenants.schema] },
      { label: 'owner', url: bouncer.url(databaseName, 'postgres'), used: [] },
      ...tenants.database.map((t) => ({ label: t.slug, url: bouncer.url(databaseOf(t), loginOf(t)), used: [t] })),
    ]
    for (const login of logins) {
      const found = await leftoversOfPool(login.url, ['tenantry.scope'])
      assert.equal(new Set(found.map((s) => s.pid)).size, POOL_SIZE, `${login.label}: every server connection of the pool is checked`)
      for (const server of found) assert.deepEqual(server.found, [], `${login.label}: server pid ${server.pid} carries ${server.found.join('; ')}`)
      // The connections checked are the ones the tenants' work ran on.
      const used = new Set(login.used.flatMap((t) => (seen.get(t.id) ?? []).map((p) => p.pid)))
      if (used.size > 0) assert.ok(found.some((s) => used.has(s.pid)), `${login.label}: none of the server connections checked served the tenants`)
      checked.push(...found.map((s) => `${login.label}:${s.pid}`))
    }
    // And as the tenants see it: a plain session of the runtime login has the server's defaults.
    const client = new pg.Client({ connectionString: bouncer.url(databaseName, role) })
    await client.connect()
    try {
      const { rows } = await client.query<{ path: string; who: string; scope: string | null }>(
        `select current_setting('search_path') as path, current_user::text as who, nullif(current_setting('tenantry.scope', true), '') as scope`,
      )
      assert.deepEqual(rows[0], { path: '"$user", public', who: role, scope: null })
    } finally {
      await client.end()
    }
    assert.ok(checked.length >= POOL_SIZE * 2)
  })

  for (const model of ['shared', 'schema', 'database'] as const) {
    it(`passes the isolation conformance kit for the ${model} model through PgBouncer, on the Kysely path and the pg.Pool path`, async () => {
      const [a, b] = tenants[model] as [ScopedTenant, ScopedTenant]
      const viaKysely = await checkTenantIsolation({ db: tenantry.db, pool: database.pool, tables: CONFORMANCE_TABLES, tenants: [a, b] })
      assert.equal(viaKysely.passed, true, formatConformanceFailures(viaKysely))
      const viaPool = await checkTenantIsolation({ runner: tenantry.pool, pool: database.pool, tables: CONFORMANCE_TABLES, tenants: [b, a] })
      assert.equal(viaPool.passed, true, formatConformanceFailures(viaPool))
    })
  }

  it('negative control: a session-level SET through PgBouncer IS seen by the next, different client (the leak this harness looks for)', async () => {
    const leaker = new pg.Client({ connectionString: bouncer.url('leak_probe', role) })
    await leaker.connect()
    // Outside any transaction, as django-tenants and apartment did: session state on a pooled server connection.
    await leaker.query(`set tenantry.x = 'a'`)
    await leaker.query(`set search_path = pg_catalog`)
    const leakerPid = (await leaker.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid
    await leaker.end()
    const other = new pg.Client({ connectionString: bouncer.url('leak_probe', role) })
    await other.connect()
    try {
      const { rows } = await other.query<{ x: string | null }>(`select current_setting('tenantry.x', true) as x`)
      assert.equal(rows[0]!.x, 'a', 'a later client of another application sees the first one\'s session setting')
      const found = await leftoversOn(other, ['tenantry.scope', 'tenantry.x'])
      assert.equal(found.pid, leakerPid)
      assert.deepEqual(found.found, ['session setting search_path=pg_catalog', 'tenantry.x = a'])
    } finally {
      await other.query('reset all').catch(() => undefined)
      await other.end()
    }
  })

  /**
   * Runs `first` as tenant A while the runtime login's other server connections
   * are held, then, while A's work is still running, queues `second` as tenant
   * B: when A's last round trip ends, PgBouncer hands its server connection to
   * B, who was waiting, before anything A's client sends next.
   */
  async function handOver<T>(a: ScopedTenant, first: () => Promise<unknown>, b: ScopedTenant, second: () => Promise<T>, via = { tenantry, bouncer }): Promise<T> {
    // Idle runtime clients already checked (so neither tenant's checkout sends a query of its own).
    await Promise.all([a, b, a, b].map((t) => runWithTenant(t, () => via.tenantry.pool.query('select 1'))))
    const holders = Array.from({ length: POOL_SIZE - 1 }, () => new pg.Client({ connectionString: via.bouncer.url(databaseName, role) }))
    try {
      for (const holder of holders) {
        await holder.connect()
        await holder.query('begin')
        await holder.query('select 1')
      }
      const aRun = runWithTenant(a, first)
      await sleep(100)
      const bRun = runWithTenant(b, second)
      await aRun
      return await bRun
    } finally {
      for (const holder of holders) await holder.end().catch(() => undefined)
    }
  }


  /** Tenant A's opaque SQL leaves a session setting; what tenant B, handed A's server connection, sees of it. */
  async function settingHandedOver(via = { tenantry, bouncer }): Promise<string | null> {
    const db = via.tenantry.db as Kysely<any>
    const [a, b] = tenants.shared as [ScopedTenant, ScopedTenant]
    let aPid = 0
    const { rows } = await handOver(
      // Session state from SQL the plugin cannot see into (a trusted statement, a raw fragment):
      // Tenantry resets the session before the connection serves anyone else…
      a, async () => {
        const result = await trusted(sql<{ pid: number }>`select pg_catalog.set_config('tenantry.leak', ${a.slug}, false), pg_catalog.pg_sleep(0.3), pg_catalog.pg_backend_pid() as pid`).execute(db)
        aPid = result.rows[0]!.pid
      },
      // …but B is waiting for a server connection when A's statement ends.
      b, () => via.tenantry.pool.query<{ seen: string | null; pid: number }>(`select nullif(current_setting('tenantry.leak', true), '') as seen, pg_backend_pid() as pid`),
      via,
    )
    assert.equal(rows[0]!.pid, aPid, 'B was handed the server connection A ran on')
    return rows[0]!.seen
  }

  /** Tenant A's transaction leaves a WITH HOLD cursor over its rows; what tenant B, handed A's server connection, fetches from it. */
  async function cursorHandedOver(via = { tenantry, bouncer }): Promise<string[]> {
    const db = via.tenantry.db as Kysely<any>
    const [a, b] = tenants.shared as [ScopedTenant, ScopedTenant]
    let aPid = 0
    let bPid = -1
    const fetched = await handOver(
      a, () => db.transaction().execute(async (trx) => {
        await trusted(sql`declare tenantry_leak cursor with hold for select name from notes order by name`).execute(trx)
        aPid = (await trusted(sql<{ pid: number }>`select pg_catalog.pg_sleep(0.3), pg_catalog.pg_backend_pid() as pid`).execute(trx)).rows[0]!.pid
      }),
      b, async () => {
        const client = await via.tenantry.pool.connect()
        try {
          await client.query('begin')
          const listed = await client.query<{ name: string; pid: number }>('select pg_backend_pid() as pid, array(select name from pg_cursors where is_holdable) as name')
          bPid = listed.rows[0]!.pid
          const rows = listed.rows[0]!.name.length === 0 ? [] : (await client.query<{ name: string }>('fetch all from tenantry_leak')).rows
          await client.query('commit')
          return rows.map((r) => r.name)
        } finally {
          client.release()
        }
      },
      via,
    )
    assert.equal(bPid, aPid, 'B was handed the server connection A ran on')
    return fetched
  }

  it('resets the session setting a tenant\'s opaque SQL left (Kysely path) before another tenant gets that server connection', async () => {
    const [a, b] = tenants.shared as [ScopedTenant, ScopedTenant]
    const seen = await settingHandedOver()
    assert.equal(seen, null, `tenant ${b.slug} saw tenant ${a.slug}'s session setting: ${seen}`)
  })

  it('closes a WITH HOLD cursor a tenant\'s transaction left (Kysely path) before another tenant can fetch A\'s rows from it', async () => {
    const [a, b] = tenants.shared as [ScopedTenant, ScopedTenant]
    const fetched = await cursorHandedOver()
    assert.deepEqual(fetched, [], `tenant ${b.slug} fetched tenant ${a.slug}'s rows: ${fetched.join(', ')}`)
  })

  it('with server_reset_query_always = 1 (the interim workaround in docs/pgbouncer.md), PgBouncer resets each server connection before the next client: the same hand-overs leak nothing', async () => {
    const resetting = await startPgBouncer({ server: pgUrl, users: ['postgres', role], poolSize: POOL_SIZE, settings: { server_reset_query_always: 1, server_reset_query: 'DISCARD ALL' } })
    let other: Tenantry | undefined
    try {
      other = await createTenantry({
        database: { url: resetting.url(databaseName), poolSize: 12 },
        models: { shared: { tables: [...CONFORMANCE_TABLES, 'notes'] } },
        runtimeRole: role, migrate: false, install: false, doctor: 'off', auditSystemScopes: false, statementCache: 'off',
      })
      const via = { tenantry: other, bouncer: resetting }
      assert.equal(await settingHandedOver(via), null)
      assert.deepEqual(await cursorHandedOver(via), [])
    } finally {
      await other?.close()
      await resetting.stop()
    }
  })

  it('named prepared statements (the default statementCache) do not survive PgBouncer < 1.21 in transaction mode: statementCache: \'off\' is required', async () => {
    const cached = tenantry.data.kysely<any>()
    const tenant = tenants.shared[0]!
    const read = (db: Kysely<any>) => runWithTenant(tenant, () => db.transaction().execute((trx) => trx.selectFrom('notes').select('name').execute()))
    // The preamble and the query are parsed as named statements on the server connection of this round trip…
    await runWithTenant(tenant, () => cached.selectFrom('notes').select('name').execute())
    // …and PgBouncer hands the next transaction another one (here it closes those it has, as server_lifetime does).
    await bouncer.admin(`RECONNECT ${databaseName}`)
    await assert.rejects(read(cached), (error: Error & { code?: string; cause?: { code?: string; message?: string } }) => {
      // Refused with a message that says what to do, the server's error as its cause.
      assert.equal(error.code, 'ISOLATION_MISCONFIGURED', String(error))
      assert.match(error.message, /statementCache: 'off'/)
      assert.equal(error.cause?.code, '26000')
      assert.match(String(error.cause?.message), /prepared statement "tenantry_[0-9a-f]+_\d+" does not exist/)
      return true
    })
    // With the cache off (as this suite's Tenantry runs), the same sequence works.
    const uncached = tenantry.db as Kysely<any>
    await runWithTenant(tenant, () => uncached.selectFrom('notes').select('name').execute())
    await bouncer.admin(`RECONNECT ${databaseName}`)
    assert.equal((await read(uncached)).length, 3)
  })

  it('lets no tenant give the shared runtime role a session default that PgBouncer\'s next server connections would log in with (ALTER ROLE is refused in a tenant scope)', async () => {
    const [a, b] = tenants.shared as [ScopedTenant, ScopedTenant]
    try {
      // The login checks in route.ts run once per client connection, which PgBouncer serves from server
      // connections that log in later: the wall is that the SQL never runs.
      await assert.rejects(runWithTenant(a, () => tenantry.pool.query('alter role current_user set default_transaction_read_only = on')), expectCode('QUERY_REFUSED'))
      await assert.rejects(runWithTenant(a, () => (tenantry.db as Kysely<any>).transaction().execute((trx) => trusted(sql.raw('alter user current_user set default_transaction_read_only = on')).execute(trx))), expectCode('QUERY_REFUSED'))
      await bouncer.admin(`RECONNECT ${databaseName}`)
      await runWithTenant(b, () => (tenantry.db as Kysely<any>).insertInto('notes').values({ name: `${b.slug}-written` }).execute())
      const { rows } = await database.pool.query('select count(*)::int as n from pg_db_role_setting s join pg_roles r on r.oid = s.setrole where r.rolname = $1', [role])
      assert.equal(rows[0].n, 0)
    } finally {
      await database.pool.query(`alter role ${role} reset all`)
      await bouncer.admin(`RECONNECT ${databaseName}`)
      await database.pool.query('delete from notes where name like $1', ['%-written'])
    }
  })

  it('tells a transaction pooler from PostgreSQL itself, and refuses to start through one the config does not declare, before anything is installed', async () => {
    const through = new pg.Pool({ connectionString: bouncer.url(databaseName, role), max: 2 })
    try {
      assert.equal(await detectTransactionPooler(through), true, 'through PgBouncer in transaction mode')
      assert.equal(await detectTransactionPooler(database.pool), false, 'directly')
    } finally {
      await through.end()
    }
    const schemas = async (): Promise<string[]> => (await database.pool.query<{ n: string }>('select nspname as n from pg_namespace order by 1')).rows.map((r) => r.n)
    const before = await schemas()
    const undeclared = await createTenantry({
      database: { url: bouncer.url(databaseName), poolSize: 4 },
      models: { shared: { tables: ['notes'] } },
      runtimeRole: role,
    }).catch((error: unknown) => error)
    assert.ok(expectCode('ISOLATION_MISCONFIGURED')(undeclared), `started through an undeclared transaction pooler: ${String(undeclared)}`)
    assert.match((undeclared as Error).message, /transaction pooler/)
    assert.deepEqual(((undeclared as { details?: { check: string }[] }).details ?? []).map((d) => d.check), ['connection.transaction_pooler'])
    assert.deepEqual(await schemas(), before, 'nothing was installed')
    // Declared (the suite's Tenantry): no finding about the connection.
    const report = await tenantry.doctor()
    assert.deepEqual(report.findings.filter((f) => f.model === 'connection'), [])
  })

  /**
   * Tenant A's opaque SQL takes a session advisory lock and then fails (or its
   * COMMIT does); tenant B waits for a server connection meanwhile. What B,
   * handed A's server connection, still finds of A's lock, and whether any
   * server connection holds it afterwards. `first` gets the lock key and
   * returns A's server pid, read from the failure.
   */
  async function lockAfterFailure(first: (key: number) => Promise<number>): Promise<{ aPid: number; bPid: number; bHolds: boolean; held: number }> {
    const [a, b] = tenants.shared as [ScopedTenant, ScopedTenant]
    const key = 700_000_000 + Math.floor(Math.random() * 100_000_000)
    let aPid = 0
    const seen = await handOver(
      a, async () => {
        aPid = await first(key)
      },
      b, () => tenantry.pool.query<{ pid: number; holds: boolean }>(
        `select pg_backend_pid() as pid, exists(select 1 from pg_locks where locktype = 'advisory' and pid = pg_backend_pid() and objid = $1::bigint::oid) as holds`, [key],
      ),
    )
    const { rows } = await database.pool.query<{ n: number }>(`select count(*)::int as n from pg_locks where locktype = 'advisory' and objid = $1::bigint::oid`, [key])
    return { aPid, bPid: seen.rows[0]!.pid, bHolds: seen.rows[0]!.holds, held: rows[0]!.n }
  }

  /** The server pid a failure carried in its message or detail (the tests put it there). */
  const pidIn = (error: unknown): number => {
    const text = [error, (error as { cause?: unknown }).cause].map((e) => `${(e as Error | undefined)?.message ?? ''} ${(e as { detail?: string } | undefined)?.detail ?? ''}`).join(' ')
    const match = /pid(\d+)|\(k\)=\((\d+)\)/.exec(text)
    assert.ok(match, `no server pid in the failure: ${text}`)
    return Number(match[1] ?? match[2])
  }

  /** A table whose unique key is checked at COMMIT, for COMMITs that fail. */
  async function withDeferredTable(run: () => Promise<void>): Promise<void> {
    await database.pool.query(`create table deferred_probe (k int, constraint deferred_probe_k unique (k) deferrable initially deferred); grant select, insert on deferred_probe to ${role}`)
    try {
      await run()
    } finally {
      await database.pool.query('drop table deferred_probe')
    }
  }

  it('resets the session after a tenant\'s opaque statement fails (Kysely path) before PgBouncer hands the server connection on: a session advisory lock it took does not stay', async () => {
    const db = tenantry.db as Kysely<any>
    const result = await lockAfterFailure(async (key) => {
      // The statement fails after taking the lock; its error carries the server pid ("pid123" is no integer).
      const error = await trusted(sql`select pg_catalog.pg_advisory_lock(${key}::bigint), pg_catalog.pg_sleep(0.3), ('pid' || pg_catalog.pg_backend_pid())::int`).execute(db).catch((e: unknown) => e)
      assert.ok(error instanceof Error, 'the statement failed')
      return pidIn(error)
    })
    assert.equal(result.bPid, result.aPid, 'B was handed the server connection A ran on')
    assert.equal(result.bHolds, false, 'B\'s session holds the advisory lock A\'s failed statement took')
    assert.equal(result.held, 0, 'a server connection still holds the lock')
  })

  it('resets the session when a COMMIT fails (a deferred constraint), on the Kysely path, a pg.Pool client and pool.query: the advisory lock taken in the transaction does not stay', async () => {
    await withDeferredTable(async () => {
      const db = tenantry.db as Kysely<any>
      const insertPid = `insert into deferred_probe (k) select pg_catalog.pg_backend_pid() from generate_series(1, 2)`
      const ways: Record<string, (key: number) => Promise<number>> = {
        kysely: async (key) => {
          const error = await db.transaction().execute(async (trx) => {
            await trusted(sql`select pg_catalog.pg_advisory_lock(${key}::bigint)`).execute(trx)
            await trusted(sql.raw(insertPid)).execute(trx)
            await trusted(sql`select pg_catalog.pg_sleep(0.3)`).execute(trx)
          }).catch((e: unknown) => e)
          assert.ok(error instanceof Error, 'the COMMIT failed')
          return pidIn(error)
        },
        client: async (key) => {
          const client = await tenantry.pool.connect()
          try {
            await client.query('begin')
            await client.query('select pg_catalog.pg_advisory_lock($1::bigint)', [key])
            await client.query(insertPid)
            await client.query('select pg_catalog.pg_sleep(0.3)')
            const error = await client.query('commit').catch((e: unknown) => e)
            assert.ok(error instanceof Error, 'the COMMIT failed')
            return pidIn(error)
          } finally {
            client.release()
          }
        },
        query: async (key) => {
          const error = await tenantry.pool.query(`with l as (select pg_catalog.pg_advisory_lock($1::bigint)), s as (select pg_catalog.pg_sleep(0.3)) ${insertPid.replace('from generate_series(1, 2)', 'from generate_series(1, 2), l, s')}`, [key]).catch((e: unknown) => e)
          assert.ok(error instanceof Error, 'the COMMIT failed')
          return pidIn(error)
        },
      }
      for (const [way, first] of Object.entries(ways)) {
        const result = await lockAfterFailure(first)
        assert.equal(result.bPid, result.aPid, `${way}: B was handed the server connection A ran on`)
        assert.equal(result.bHolds, false, `${way}: B's session holds the advisory lock A's transaction took`)
        assert.equal(result.held, 0, `${way}: a server connection still holds the lock`)
      }
    })
  })

  describe('migrations, installs and the fleet lock behind PgBouncer (they need a session)', () => {
    /** What a run or an install would have written: schemas, tables in the tenantry schema, ledger rows, roles like the suite's. */
    async function footprint(): Promise<string[]> {
      const { rows } = await database.pool.query<{ item: string }>(
        `select 'schema ' || nspname as item from pg_namespace
         union all select 'table ' || relname from pg_class where relnamespace = 'tenantry'::regnamespace and relkind = 'r'
         union all select 'role ' || rolname from pg_roles where rolname like $1
         order by 1`, [`${role}%`])
      const ledger = await database.pool.query<{ n: number }>('select count(*)::int as n from tenantry.migrations').catch(() => ({ rows: [{ n: -1 }] }))
      return [...rows.map((r) => r.item), `ledger rows ${ledger.rows[0]!.n}`]
    }

    /** Advisory locks on the fleet lock's key in the suite's database (other test files run fleets of their own). */
    async function fleetLocksHeld(): Promise<number> {
      const { rows } = await database.pool.query<{ n: number }>(
        `select count(*)::int as n from pg_locks where locktype = 'advisory' and ((classid::bigint << 32) | objid::bigint) = $1::bigint
           and database = (select oid from pg_database where datname = current_database())`, [migrationLockKey])
      return rows[0]!.n
    }

    it('refuses the fleet lock through PgBouncer, declared or not, before it takes anything (two runners would both "hold" it)', async () => {
      // The alias's pool has one server connection: a second runner would be served by the first's and take the lock again.
      const one = postgresTarget(bouncer.url('leak_probe', 'postgres'))
      const two = postgresTarget(bouncer.url('leak_probe', 'postgres'))
      const held: FleetLock[] = []
      try {
        for (const [target, pooler] of [[one, undefined], [two, 'transaction']] as const) {
          const attempt = await acquireFleetLock(target, pooler === undefined ? {} : { pooler }).catch((error: unknown) => error)
          if (!(attempt instanceof Error)) held.push(attempt as FleetLock)
          assert.ok(expectCode('ISOLATION_MISCONFIGURED')(attempt), `took the fleet lock through a transaction pooler (${pooler ?? 'undeclared'}): ${String(attempt)}`)
          assert.match((attempt as Error).message, /directUrl/)
        }
        assert.equal(await fleetLocksHeld(), 0, 'no server connection holds the fleet lock')
      } finally {
        for (const lock of held.reverse()) await lock.release()
        await Promise.all([one.pool.end(), two.pool.end()])
      }
    })

    it('without directUrl, refuses migrate, down and a schema tenant\'s provisioning migrations with ISOLATION_MISCONFIGURED naming directUrl, before anything is written', async () => {
      const before = await footprint()
      for (const [what, run] of [
        ['migrate', () => tenantry.migrator.migrate()],
        ['down', () => tenantry.migrator.down({ to: null })],
        ['migrateTenant', () => tenantry.migrator.migrateTenant({
          id: randomUUID(), slug: 'never', name: 'never', status: 'active', plan: 'free', isolation: 'schema', placement: {}, settings: {}, createdAt: new Date(), updatedAt: new Date(),
        })],
      ] as const) {
        const error = await (run as () => Promise<unknown>)().then(() => undefined, (e: unknown) => e)
        assert.ok(expectCode('ISOLATION_MISCONFIGURED')(error), `${what}: ${String(error)}`)
        assert.match((error as Error).message, /directUrl/, what)
      }
      assert.deepEqual(await footprint(), before, 'nothing was written')
      assert.equal(await fleetLocksHeld(), 0)
    })

    it('with directUrl: migrates and installs around PgBouncer (steps outside a transaction included), keeps a second runner out, and serves every model\'s tenants through PgBouncer', async () => {
      const backend = testBackends().find((b) => b.name === 'postgres')!
      const own = await backend.createDatabase()
      const ownName = new URL(own.url!).pathname.slice(1)
      const ownRole = uniqueName('tenantry_du')
      await bouncer.allowUsers([ownRole])
      const migrations = [
        {
          id: '0001_notes',
          up: async ({ client, model }: { client: pg.ClientBase; model: string }) => {
            const tenant = model === 'shared' ? 'tenant_id uuid not null, ' : ''
            await client.query(`create table notes (${tenant}id int generated always as identity, name text not null, primary key (${model === 'shared' ? 'tenant_id, ' : ''}id))`)
          },
          checksum: 'notes-1',
        },
        // Outside a transaction: the step's search_path (and scope) are set for the session, which must be the runner's.
        { id: '0002_notes_name', up: 'create index concurrently if not exists notes_name on notes (name)', transaction: false },
      ]
      const config: TenantryConfig = {
        database: { url: bouncer.url(ownName), poolSize: 6, pooler: 'transaction', directUrl: own.url! },
        models: { shared: { tables: ['notes'] }, schema: true, database: { budget: 12, maxPerDatabase: 4 } },
        migrations: { tenant: migrations },
        runtimeRole: ownRole,
        auditSystemScopes: false,
        onWarning: () => undefined,
      }
      const opened: Tenantry[] = []
      const made: ScopedTenant[] = []
      try {
        // migrate and install stay on (the defaults): they run on directUrl.
        const first = await createTenantry(config)
        opened.push(first)
        assert.equal(first.migration?.ok, true, JSON.stringify(first.migration?.failed.map((f) => f.error?.message)))
        assert.equal((await first.doctor()).ok, true)
        for (const isolation of ['shared', 'schema', 'database'] as const) {
          made.push(await first.tenants.create({ slug: `du-${isolation}-${randomUUID().slice(0, 6)}`, name: isolation, isolation }))
        }
        const { rows: indexed } = await own.pool.query<{ n: number }>(`select count(*)::int as n from pg_indexes where indexname = 'notes_name'`)
        assert.equal(indexed[0]!.n, 2, 'the step outside a transaction ran on the shared tables and the schema tenant (the database tenant has its own)')
        await bouncer.allowUsers(made.filter((t) => t.isolation === 'database').map((t) => tenantRoleName(ownRole, t)))

        // The fleet lock, taken on directUrl by one runner, keeps a second instance's run out, then lets it through.
        const lock = await acquireFleetLock(first.target)
        const second = await createTenantry({ ...config, migrate: false, install: false })
        opened.push(second)
        try {
          await assert.rejects(second.migrator.migrate(), expectCode('MIGRATION_LOCKED'))
        } finally {
          await lock.release()
        }
        assert.equal((await second.migrator.migrate()).ok, true)
        assert.equal(await fleetLocksHeld(), 0, 'released on the connection that took it')

        // Tenant traffic goes through PgBouncer, as the tenant logins; every tenant sees its own rows.
        for (const tenant of made) {
          await runWithTenant(tenant, () => (second.db as Kysely<any>).insertInto('notes').values({ name: `${tenant.slug}-note` }).execute())
        }
        for (const tenant of made) {
          const names = await runWithTenant(tenant, () => (second.db as Kysely<any>).selectFrom('notes').select('name').execute())
          assert.deepEqual(names.map((r) => r.name), [`${tenant.slug}-note`], tenant.slug)
          const via = await runWithTenant(tenant, () => second.pool.query<{ who: string }>('select current_user::text as who'))
          assert.equal(via.rows[0]!.who, tenant.isolation === 'database' ? tenantRoleName(ownRole, tenant) : ownRole)
        }
        const pools = await bouncer.admin<{ database: string; user: string }>('SHOW POOLS')
        const users = new Set(pools.filter((p) => p.database === ownName || made.some((t) => t.placement?.database === p.database)).map((p) => p.user))
        assert.ok(users.has(ownRole), `the runtime login went through PgBouncer: ${[...users].join(', ')}`)
        for (const tenant of made.filter((t) => t.isolation === 'database')) assert.ok(users.has(tenantRoleName(ownRole, tenant)), 'a database tenant\'s role went through PgBouncer')
        assert.ok(!users.has('postgres'), 'the owner (migrations, installs, provisioning) never went through PgBouncer')
        for (const tenant of made) await second.tenants.offboard(tenant.slug)
        made.length = 0
      } finally {
        for (const t of opened.reverse()) await t.close()
        const dbs = await own.pool.query<{ database: string }>(`select placement->>'database' as database from tenantry.tenants where isolation = 'database'`).catch(() => ({ rows: [] }))
        for (const row of dbs.rows) await own.pool.query(`drop database if exists "${row.database}" with (force)`).catch(() => undefined)
        const roles = await own.pool.query<{ rolname: string }>('select rolname from pg_roles where rolname = $1 or rolname like $2', [ownRole, `${ownRole}\\_%`])
        await dropRoles(own, roles.rows.map((r) => r.rolname))
        await own.close()
      }
    })

    it('refuses to start when directUrl itself goes through PgBouncer in transaction mode, before anything is installed', async () => {
      const before = await footprint()
      const started = await createTenantry({
        database: { url: bouncer.url(databaseName), pooler: 'transaction', directUrl: `${bouncer.url(databaseName)}?application_name=owner`, poolSize: 4 },
        models: { shared: { tables: ['notes'] } },
        runtimeRole: role,
      }).catch((error: unknown) => error)
      if (!(started instanceof Error)) await (started as Tenantry).close()
      assert.ok(expectCode('ISOLATION_MISCONFIGURED')(started), `started with a pooled directUrl: ${String(started)}`)
      assert.match((started as Error).message, /directUrl goes through a transaction pooler/)
      assert.deepEqual(await footprint(), before, 'nothing was installed')
    })
  })
})
