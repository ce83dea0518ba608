import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as delay } from 'node:timers/promises'
import {
  CompiledQuery,
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  sql,
  type DatabaseConnection,
  type Driver,
  type QueryResult,
} from 'kysely'
import { runAsSystem, runWithTenant } from '@tenantry/core'
import { SYSTEM_STAMP, StampingQueryCompiler, TenantScopePlugin, compiledStampOf, tenantStampOf, trusted } from '../src/index.ts'
import { acme, compilingDb, globex, sqlOf, suspended, tenantTables, type DB } from './support/schema.ts'

const plugin = new TenantScopePlugin({ tables: tenantTables })
const db = compilingDb(plugin)
const unscoped = compilingDb()
const A = acme.id
const B = globex.id

/** A driver that records what would reach the database. */
function recordingDb(): { db: Kysely<DB>; executed: CompiledQuery[] } {
  const executed: CompiledQuery[] = []
  const connection: DatabaseConnection = {
    async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
      executed.push(query)
      return { rows: [] }
    },
    async *streamQuery() {
      throw new Error('not used')
    },
  }
  const driver: Driver = {
    async init() {},
    async acquireConnection() {
      return connection
    },
    async beginTransaction() {},
    async commitTransaction() {},
    async rollbackTransaction() {},
    async releaseConnection() {},
    async destroy() {},
  }
  const recording = new Kysely<DB>({
    dialect: {
      createAdapter: () => new PostgresAdapter(),
      createDriver: () => driver,
      createIntrospector: (k) => new PostgresIntrospector(k),
      createQueryCompiler: () => new PostgresQueryCompiler(),
    },
    plugins: [plugin],
  })
  return { db: recording, executed }
}

describe('TenantScopePlugin options', () => {
  it('rejects an empty table list at construction', () => {
    assert.throws(() => new TenantScopePlugin({ tables: [] }), { name: 'TenantryError', code: 'VALIDATION_FAILED' })
  })

  it('rejects blank, padded or schema-qualified table names and lists each one in details', () => {
    assert.throws(
      () => new TenantScopePlugin({ tables: ['projects', '', ' tasks', 'app.comments'] }),
      (error: unknown) => {
        assert.equal((error as { code?: unknown }).code, 'VALIDATION_FAILED')
        const details = (error as { details: { path: string }[] }).details
        assert.deepEqual(details.map((d) => d.path), ['tables[1]', 'tables[2]', 'tables[3]'])
        return true
      },
    )
  })

  it('rejects an invalid tenant column and a non-boolean filter', () => {
    assert.throws(() => new TenantScopePlugin({ tables: ['projects'], tenantColumn: '' }), { code: 'VALIDATION_FAILED' })
    assert.throws(() => new TenantScopePlugin({ tables: ['projects'], tenantColumn: 'p.tenant_id' }), { code: 'VALIDATION_FAILED' })
    assert.throws(() => new TenantScopePlugin({ tables: ['projects'], filter: 'no' as unknown as boolean }), { code: 'VALIDATION_FAILED' })
  })

  it('uses a custom tenant column in predicates and inserts', () => {
    const orgDb = compilingDb(new TenantScopePlugin({ tables: ['projects'], tenantColumn: 'org_id' }))
    runWithTenant(acme, () => {
      assert.deepEqual(sqlOf(orgDb.selectFrom('projects').select('name')), {
        sql: 'select "name" from "projects" where "projects"."org_id" = $1',
        parameters: [A],
      })
      assert.deepEqual(sqlOf(orgDb.insertInto('projects').values({ id: 1, name: 'x' })), {
        sql: 'insert into "projects" ("id", "name", "org_id") values ($1, $2, $3)',
        parameters: [1, 'x', A],
      })
    })
  })
})

describe('scope handling', () => {
  it('throws TENANT_CONTEXT_MISSING from compile outside any scope', () => {
    assert.throws(() => db.selectFrom('projects').selectAll().compile(), { name: 'TenantryError', code: 'TENANT_CONTEXT_MISSING' })
    assert.throws(() => db.selectFrom('users').selectAll().compile(), { code: 'TENANT_CONTEXT_MISSING' })
  })

  it('throws TENANT_CONTEXT_MISSING from execute before the driver sees any SQL', async () => {
    const { db: recording, executed } = recordingDb()
    await assert.rejects(recording.selectFrom('projects').selectAll().execute(), { code: 'TENANT_CONTEXT_MISSING' })
    assert.equal(executed.length, 0)
  })

  it('throws TENANT_SUSPENDED for a tenant that is not active', () => {
    assert.throws(() => runWithTenant(suspended, () => db.selectFrom('projects').selectAll().compile()), { code: 'TENANT_SUSPENDED' })
  })

  it('changes nothing in a system scope and stamps the query SYSTEM_STAMP', async () => {
    const build = (k: typeof db) =>
      k
        .selectFrom('projects as p')
        .leftJoin('tasks as t', 't.project_id', 'p.id')
        .select(['p.name', 't.title'])
        .where('p.id', 'in', (eb) => eb.selectFrom('comments').select('task_id'))
    const compiled = await runAsSystem('test: system scope', () => build(db).compile())
    assert.equal(compiled.sql, build(unscoped).compile().sql)
    assert.equal(tenantStampOf(compiled.query), SYSTEM_STAMP)
    const raw = await runAsSystem('test: raw in system scope', () => sql`select 1`.compile(db))
    assert.equal(tenantStampOf(raw.query), SYSTEM_STAMP)
  })

  it('refuses MERGE', () => {
    const merge = db
      .mergeInto('projects as p')
      .using('tasks as t', 't.project_id', 'p.id')
      .whenMatched()
      .thenDelete()
    assert.throws(() => runWithTenant(acme, () => merge.compile()), { code: 'QUERY_REFUSED' })
  })

  it('refuses a raw SQL statement', async () => {
    const { db: recording, executed } = recordingDb()
    await assert.rejects(runWithTenant(acme, () => sql`delete from projects`.execute(recording)), { code: 'QUERY_REFUSED' })
    assert.equal(executed.length, 0)
  })

  it('runs a trusted raw SQL statement unchanged and stamps it with the tenant', async () => {
    const { db: recording, executed } = recordingDb()
    const refresh = trusted(sql`select count(*) from projects where tenant_id = ${A}`)
    await runWithTenant(acme, () => refresh.execute(recording))
    const [query] = executed
    assert.ok(query)
    assert.equal(query.sql, 'select count(*) from projects where tenant_id = $1')
    assert.deepEqual(query.parameters, [A])
    assert.equal(tenantStampOf(query.query), A)
  })

  it('refuses untrusted raw SQL used as a table, and accepts a trusted one', () => {
    const untrusted = db.selectFrom(sql`projects`.as('p')).selectAll()
    assert.throws(() => runWithTenant(acme, () => untrusted.compile()), { code: 'QUERY_REFUSED' })
    const series = db.selectFrom(trusted(sql`generate_series(1, 3)`).as('n')).selectAll()
    assert.deepEqual(runWithTenant(acme, () => sqlOf(series)), { sql: 'select * from generate_series(1, 3) as "n"', parameters: [] })
  })

  it('throws TENANT_CONTEXT_MISSING when a sub-builder of the scoped instance is embedded outside any scope', () => {
    // Kysely runs plugins on a builder when it is embedded; build subqueries with
    // the expression builder (eb.selectFrom) or inside the scope.
    assert.throws(() => db.selectFrom('projects').where('id', 'in', db.selectFrom('tasks').select('project_id')), { code: 'TENANT_CONTEXT_MISSING' })
  })

  it('scopes interleaved compiles of two tenants independently', async () => {
    const query = db.selectFrom('projects').selectAll()
    const compileOften = (tenant: typeof acme) =>
      runWithTenant(tenant, async () => {
        const seen: unknown[] = []
        for (let i = 0; i < 20; i++) {
          await delay(i % 3)
          const compiled = query.compile()
          seen.push(compiled.parameters[0], tenantStampOf(compiled.query))
        }
        return seen
      })
    const [forA, forB] = await Promise.all([compileOften(acme), compileOften(globex)])
    assert.ok(forA.every((v) => v === A))
    assert.ok(forB.every((v) => v === B))
  })

  it('passes query results through unchanged', async () => {
    const result = { rows: [{ id: 1 }] }
    assert.equal(await plugin.transformResult({ result, queryId: { queryId: 'q' } }), result)
  })
})

describe('query stamps', () => {
  it('stamps a query compiled in tenant A with A', () => {
    const compiled = runWithTenant(acme, () => db.selectFrom('projects').selectAll().compile())
    assert.equal(tenantStampOf(compiled.query), A)
  })

  it('compiles the same builder in tenant B with B\'s parameter and stamp, leaving A\'s compiled query stamped A', () => {
    const query = db.updateTable('projects').set({ name: 'x' })
    const inA = runWithTenant(acme, () => query.compile())
    const inB = runWithTenant(globex, () => query.compile())
    assert.deepEqual(inA.parameters, ['x', A])
    assert.deepEqual(inB.parameters, ['x', B])
    assert.equal(tenantStampOf(inA.query), A)
    assert.equal(tenantStampOf(inB.query), B)
  })

  it('gives every compile of one trusted raw statement its own stamp', () => {
    const stats = trusted(sql`select 1`)
    const inA = runWithTenant(acme, () => stats.compile(db))
    const inB = runWithTenant(globex, () => stats.compile(db))
    assert.equal(tenantStampOf(inA.query), A)
    assert.equal(tenantStampOf(inB.query), B)
  })

  it('leaves a query the plugin never saw unstamped', () => {
    assert.equal(tenantStampOf(unscoped.selectFrom('projects').selectAll().compile().query), undefined)
    assert.equal(tenantStampOf(CompiledQuery.raw('select 1').query), undefined)
  })

  it('shares stamps and trust between two loaded copies of the module', async () => {
    // A query string makes Node load a second instance of each module.
    const stampsCopy = (await import(new URL('../src/stamps.ts?second-copy', import.meta.url).href)) as typeof import('../src/stamps.ts')
    const trustedCopy = (await import(new URL('../src/trusted.ts?second-copy', import.meta.url).href)) as typeof import('../src/trusted.ts')
    assert.notEqual(stampsCopy.tenantStampOf, tenantStampOf)
    assert.notEqual(trustedCopy.trusted, trusted)
    const compiled = runWithTenant(acme, () => db.selectFrom('projects').selectAll().compile())
    assert.equal(stampsCopy.tenantStampOf(compiled.query), A)
    assert.equal(stampsCopy.SYSTEM_STAMP, SYSTEM_STAMP)
    const statement = trustedCopy.trusted(sql`select 2`)
    assert.equal(runWithTenant(acme, () => statement.compile(db)).sql, 'select 2')
  })
})

describe('compiled-query stamps', () => {
  const stamping = new Kysely<DB>({
    dialect: {
      createAdapter: () => new PostgresAdapter(),
      createDriver: () => ({
        async init() {}, async acquireConnection() { throw new Error('not used') }, async beginTransaction() {},
        async commitTransaction() {}, async rollbackTransaction() {}, async releaseConnection() {}, async destroy() {},
      }),
      createIntrospector: (k) => new PostgresIntrospector(k),
      createQueryCompiler: () => new StampingQueryCompiler(new PostgresQueryCompiler()),
    },
    plugins: [plugin],
  })

  it('records the compiled object itself, with its parameters frozen', () => {
    const compiled = runWithTenant(acme, () => stamping.selectFrom('projects').selectAll().where('name', '=', 'x').compile())
    assert.deepEqual(compiledStampOf(compiled), { scope: A, opaque: false })
    assert.ok(Object.isFrozen(compiled) && Object.isFrozen(compiled.parameters))
    assert.throws(() => {
      ;(compiled.parameters as unknown[])[1] = B
    }, TypeError)
  })

  it('has no stamp for a copy with other SQL or other parameters, nor for a query compiled without the stamping compiler', () => {
    const compiled = runWithTenant(acme, () => stamping.selectFrom('projects').selectAll().compile())
    assert.equal(compiledStampOf({ ...compiled, sql: 'select * from projects' }), undefined)
    assert.equal(compiledStampOf({ ...compiled, parameters: [B] }), undefined)
    assert.equal(compiledStampOf(runWithTenant(acme, () => db.selectFrom('projects').selectAll().compile())), undefined)
    assert.equal(compiledStampOf(CompiledQuery.raw('select 1')), undefined)
  })

  it('marks a query opaque when it holds raw SQL or calls a function not known to leave the session alone', () => {
    const opaque = (build: (k: Kysely<DB>) => { compile(): CompiledQuery }) => compiledStampOf(runWithTenant(acme, () => build(stamping).compile()))?.opaque
    assert.equal(opaque((k) => k.selectFrom('projects').select((eb) => [eb.fn.countAll().as('n'), eb.fn('lower', ['name']).as('l'), eb.fn.coalesce('name', sql.lit('x')).as('c')])), false)
    assert.equal(opaque((k) => k.selectFrom('projects').select(sql<string>`now()`.as('t'))), true)
    assert.equal(opaque((k) => k.selectFrom('projects').select((eb) => eb.fn('set_config', [sql.lit('a.b'), sql.lit('c'), sql.lit(false)]).as('x'))), true)
    assert.equal(opaque((k) => k.selectFrom('projects').select((eb) => eb.fn('pg_catalog.lower', ['name']).as('x'))), true)
    assert.equal(opaque((k) => k.selectFrom('projects').select((eb) => [eb.fn.agg<string>('string_agg', ['name', sql.lit(',')]).as('s'), eb.fn.max('name').as('m')])), false)
    assert.equal(opaque((k) => k.selectFrom('projects').select((eb) => eb.fn.agg<string>('set_config', [eb.val('TimeZone'), eb.val('UTC'), eb.val(false)]).as('x'))), true)
    assert.equal(compiledStampOf(runWithTenant(acme, () => trusted(sql`select 1`).compile(stamping)))?.opaque, true)
  })

  it('stamps a system-scope compile SYSTEM_STAMP, opaque when it holds raw SQL', async () => {
    const raw = await runAsSystem('test: opaque', () => stamping.selectFrom('projects').select(sql<string>`now()`.as('t')).compile())
    assert.deepEqual(compiledStampOf(raw), { scope: SYSTEM_STAMP, opaque: true })
    const plain = await runAsSystem('test: opaque', () => stamping.selectFrom('projects').selectAll().compile())
    assert.deepEqual(compiledStampOf(plain), { scope: SYSTEM_STAMP, opaque: false })
  })

  it('refuses EXPLAIN ANALYZE in a tenant scope, however it is spelled, and allows plain EXPLAIN', async () => {
    for (const options of [sql`analyze`, sql`ANALYSE, buffers`, sql`${sql.raw('analyze')}`]) {
      await assert.rejects(async () => runWithTenant(acme, () => stamping.selectFrom('projects').selectAll().explain('json', options)), { code: 'QUERY_REFUSED' })
    }
    const { db: recording, executed } = recordingDb()
    await runWithTenant(acme, () => recording.selectFrom('projects').selectAll().explain('json', sql`costs off`))
    assert.match(executed[0]?.sql ?? '', /^explain \(costs off, format json\) select/)
  })
})

describe('RLS-only mode (filter: false)', () => {
  const rlsOnly = compilingDb(new TenantScopePlugin({ tables: tenantTables, filter: false }))

  it('adds no predicates to reads, joins, subqueries, updates and deletes', () => {
    const queries = [
      (k: typeof db) => k.selectFrom('projects as p').rightJoin('tasks as t', 't.project_id', 'p.id').select('t.title').where('p.id', 'in', (eb) => eb.selectFrom('comments').select('task_id')),
      (k: typeof db) => k.updateTable('tasks').set({ title: 'x' }).from('projects').whereRef('projects.id', '=', 'tasks.project_id'),
      (k: typeof db) => k.deleteFrom('comments').using('tasks').whereRef('tasks.id', '=', 'comments.task_id'),
      (k: typeof db) => k.insertInto('projects').values({ id: 1, name: 'x', tenant_id: A }).onConflict((oc) => oc.column('id').doUpdateSet({ name: 'y' })),
    ]
    for (const build of queries) assert.deepEqual(runWithTenant(acme, () => sqlOf(build(rlsOnly))), sqlOf(build(unscoped)))
  })

  it('still fills a tenant_id the insert leaves out, and leaves a given one to RLS', () => {
    runWithTenant(acme, () => {
      assert.deepEqual(sqlOf(rlsOnly.insertInto('projects').values({ id: 1, name: 'x' })), {
        sql: 'insert into "projects" ("id", "name", "tenant_id") values ($1, $2, $3)',
        parameters: [1, 'x', A],
      })
      assert.deepEqual(sqlOf(rlsOnly.insertInto('projects').values([{ id: 1, name: 'x', tenant_id: B }, { id: 2, name: 'y' }])), {
        sql: 'insert into "projects" ("id", "name", "tenant_id") values ($1, $2, $3), ($4, $5, $6)',
        parameters: [1, 'x', B, 2, 'y', A],
      })
      const insertSelect = rlsOnly
        .insertInto('tasks')
        .columns(['id', 'title', 'tenant_id'])
        .expression((eb) => eb.selectFrom('projects').select(['id', 'name', 'tenant_id']))
      assert.equal(sqlOf(insertSelect).sql, 'insert into "tasks" ("id", "title", "tenant_id") select "id", "name", "tenant_id" from "projects"')
    })
  })

  it('still refuses raw SQL, MERGE and tenant_id updates, still needs a scope, and still stamps', () => {
    runWithTenant(acme, () => {
      assert.throws(() => sql`select 1`.compile(rlsOnly), { code: 'QUERY_REFUSED' })
      assert.throws(() => rlsOnly.selectFrom(sql`projects`.as('p')).selectAll().compile(), { code: 'QUERY_REFUSED' })
      assert.throws(() => rlsOnly.mergeInto('projects').using('tasks', 'tasks.project_id', 'projects.id').whenMatched().thenDelete().compile(), { code: 'QUERY_REFUSED' })
      assert.throws(() => rlsOnly.updateTable('projects').set({ tenant_id: A }).compile(), { code: 'QUERY_REFUSED' })
      assert.equal(tenantStampOf(rlsOnly.selectFrom('projects').selectAll().compile().query), A)
    })
    assert.throws(() => rlsOnly.selectFrom('projects').selectAll().compile(), { code: 'TENANT_CONTEXT_MISSING' })
  })
})

describe('rulesFor: tenants of other isolation models', () => {
  let asked = 0
  const mixed = compilingDb(new TenantScopePlugin({
    tables: tenantTables,
    rulesFor: (t) => {
      asked++
      return { rewrite: (t.isolation ?? 'shared') === 'shared', allowedSchemas: 'any' }
    },
  }))
  const schemaTenant = { ...globex, isolation: 'schema' as const }

  it('rewrites the queries of a tenant it applies to', () => {
    const before = asked
    const compiled = runWithTenant({ ...acme, isolation: 'shared' as const }, () => mixed.selectFrom('projects').selectAll().compile())
    assert.match(compiled.sql, /"projects"\."tenant_id" = \$1/)
    assert.equal(asked - before, 1, 'the rules are asked once per compile')
  })

  it('leaves the queries of other tenants unrewritten but stamped for them', () => {
    const compiled = runWithTenant(schemaTenant, () => mixed.insertInto('projects').values({ id: 1, name: 'x' } as never).compile())
    assert.equal(compiled.sql, unscoped.insertInto('projects').values({ id: 1, name: 'x' } as never).compile().sql)
    assert.equal(tenantStampOf(compiled.query), schemaTenant.id)
  })

  it('still refuses raw SQL and MERGE for tenants it does not rewrite', () => {
    assert.throws(() => runWithTenant(schemaTenant, () => sql`select 1`.compile(mixed)), { code: 'QUERY_REFUSED' })
  })

  it('rejects a rulesFor that is not a function', () => {
    assert.throws(() => new TenantScopePlugin({ tables: tenantTables, rulesFor: 'shared' as never }), { code: 'VALIDATION_FAILED' })
  })
})

describe('statement guards', () => {
  it('refuses DDL in a tenant scope, temporary tables included', () => {
    assert.throws(() => runWithTenant(acme, () => db.schema.createTable('scratch').temporary().addColumn('id', 'integer').compile()), { code: 'QUERY_REFUSED' })
    assert.throws(() => runWithTenant(acme, () => db.schema.dropTable('projects').compile()), { code: 'QUERY_REFUSED' })
    assert.throws(() => runWithTenant(acme, () => db.schema.createView('v').as(db.selectFrom('projects').selectAll()).compile()), { code: 'QUERY_REFUSED' })
  })

  it('lets a system scope run DDL', async () => {
    const compiled = await runAsSystem('test: migration', () => db.schema.createTable('scratch').addColumn('id', 'integer').compile())
    assert.equal(tenantStampOf(compiled.query), SYSTEM_STAMP)
  })

  it('allows each tenant only the schemas it is given to name', () => {
    const strict = compilingDb(new TenantScopePlugin({
      tables: tenantTables,
      rulesFor: (t) => ({ rewrite: true, allowedSchemas: t.isolation === 'schema' ? [] : t.isolation === 'database' ? 'any' : ['public'] }),
    }))
    const schemaTenant = { ...globex, isolation: 'schema' as const }
    assert.throws(() => runWithTenant(schemaTenant, () => strict.withSchema('other').selectFrom('projects').selectAll().compile()), { code: 'QUERY_REFUSED' })
    assert.doesNotThrow(() => runWithTenant(schemaTenant, () => strict.selectFrom('projects').selectAll().compile()))
    assert.throws(() => runWithTenant(acme, () => strict.withSchema('tenant_x').selectFrom('projects').selectAll().compile()), { code: 'QUERY_REFUSED' })
    assert.doesNotThrow(() => runWithTenant(acme, () => strict.withSchema('public').selectFrom('projects').selectAll().compile()))
    assert.doesNotThrow(() => runWithTenant({ ...acme, isolation: 'database' as const }, () => strict.withSchema('other').selectFrom('projects').selectAll().compile()))
  })
})
