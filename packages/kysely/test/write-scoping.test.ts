import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { sql } from 'kysely'
import { runWithTenant } from '@tenantry/core'
import { TenantScopePlugin } from '../src/index.ts'
import { acme, compilingDb, globex, ids, sqlOf, tenantTables } from './support/schema.ts'

const db = compilingDb(new TenantScopePlugin({ tables: tenantTables }))
const unscoped = compilingDb()
const A = acme.id

function inAcme<T>(fn: () => T): T {
  return runWithTenant(acme, fn)
}

function refusedIn(query: { compile(): unknown }, code: 'QUERY_REFUSED' | 'TENANT_MISMATCH'): void {
  assert.throws(() => inAcme(() => query.compile()), { name: 'TenantryError', code })
}

describe('UPDATE scoping', () => {
  it('adds the tenant predicate to an UPDATE and wraps its WHERE', () => {
    const query = db.updateTable('projects').set({ name: 'x' }).where('id', '=', 1)
    assert.deepEqual(inAcme(() => sqlOf(query)), {
      sql: 'update "projects" set "name" = $1 where ("id" = $2) and "projects"."tenant_id" = $3',
      parameters: ['x', 1, A],
    })
  })

  it('qualifies the predicate of an aliased UPDATE target by its alias', () => {
    const query = db.updateTable('projects as p').set({ name: 'x' })
    assert.deepEqual(inAcme(() => sqlOf(query)), {
      sql: 'update "projects" as "p" set "name" = $1 where "p"."tenant_id" = $2',
      parameters: ['x', A],
    })
  })

  it('filters the target and every FROM table of an UPDATE ... FROM in WHERE', () => {
    const query = db
      .updateTable('tasks')
      .set({ status: 'done' })
      .from('projects')
      .whereRef('projects.id', '=', 'tasks.project_id')
      .where('projects.name', '=', 'x')
    assert.deepEqual(inAcme(() => sqlOf(query)), {
      sql:
        'update "tasks" set "status" = $1 from "projects" where ("projects"."id" = "tasks"."project_id" and "projects"."name" = $2)' +
        ' and "tasks"."tenant_id" = $3 and "projects"."tenant_id" = $4',
      parameters: ['done', 'x', A, A],
    })
  })

  it('places joins of an UPDATE ... FROM by the join algorithm, apart from the target', () => {
    const query = db
      .updateTable('comments')
      .set({ body: 'x' })
      .from('tasks as t')
      .leftJoin('projects as p', 'p.id', 't.project_id')
      .whereRef('t.id', '=', 'comments.task_id')
    assert.deepEqual(inAcme(() => sqlOf(query)), {
      sql:
        'update "comments" set "body" = $1 from "tasks" as "t" left join "projects" as "p" on ("p"."id" = "t"."project_id") and "p"."tenant_id" = $2' +
        ' where ("t"."id" = "comments"."task_id") and "comments"."tenant_id" = $3 and "t"."tenant_id" = $4',
      parameters: ['x', A, A, A],
    })
  })

  it('scopes subqueries in the SET list and WHERE of an UPDATE', () => {
    const query = db
      .updateTable('projects')
      .set((eb) => ({ name: eb.selectFrom('tasks').select('title').whereRef('tasks.project_id', '=', 'projects.id').limit(1) }))
      .where('id', 'in', (eb) => eb.selectFrom('comments').select('task_id'))
    assert.deepEqual(inAcme(() => sqlOf(query)), {
      sql:
        'update "projects" set "name" = (select "title" from "tasks" where ("tasks"."project_id" = "projects"."id") and "tasks"."tenant_id" = $1 limit $2)' +
        ' where ("id" in (select "task_id" from "comments" where "comments"."tenant_id" = $3)) and "projects"."tenant_id" = $4',
      parameters: [A, 1, A, A],
    })
  })

  it('refuses an UPDATE that sets tenant_id, even to the current tenant', () => {
    refusedIn(db.updateTable('projects').set({ tenant_id: A }), 'QUERY_REFUSED')
    refusedIn(db.updateTable('projects as p').set('p.tenant_id', globex.id), 'QUERY_REFUSED')
  })

  it('compiles an UPDATE of a global table exactly as without the plugin', () => {
    const build = (k: typeof db) => k.updateTable('users').set({ name: 'x' }).where('id', '=', 1)
    assert.deepEqual(inAcme(() => sqlOf(build(db))), sqlOf(build(unscoped)))
  })
})

describe('DELETE scoping', () => {
  it('adds the tenant predicate to a DELETE and wraps its WHERE', () => {
    const query = db.deleteFrom('projects').where('id', '=', 1).returning('id')
    assert.deepEqual(inAcme(() => sqlOf(query)), {
      sql: 'delete from "projects" where ("id" = $1) and "projects"."tenant_id" = $2 returning "id"',
      parameters: [1, A],
    })
  })

  it('filters the target and every USING table of a DELETE ... USING in WHERE', () => {
    const query = db
      .deleteFrom('comments')
      .using('tasks')
      .whereRef('tasks.id', '=', 'comments.task_id')
      .where('tasks.status', '=', 'done')
    assert.deepEqual(inAcme(() => sqlOf(query)), {
      sql:
        'delete from "comments" using "tasks" where ("tasks"."id" = "comments"."task_id" and "tasks"."status" = $1)' +
        ' and "comments"."tenant_id" = $2 and "tasks"."tenant_id" = $3',
      parameters: ['done', A, A],
    })
  })

  it('places joins of a DELETE ... USING by the join algorithm, apart from the target', () => {
    const query = db
      .deleteFrom('comments')
      .using('tasks as t')
      .rightJoin('projects as p', 'p.id', 't.project_id')
      .whereRef('t.id', '=', 'comments.task_id')
    assert.deepEqual(inAcme(() => sqlOf(query)), {
      sql:
        'delete from "comments" using "tasks" as "t" right join "projects" as "p" on ("p"."id" = "t"."project_id") and "p"."tenant_id" = $1 and "t"."tenant_id" = $2' +
        ' where ("t"."id" = "comments"."task_id") and "comments"."tenant_id" = $3 and "p"."tenant_id" = $4',
      parameters: ids(acme, 4),
    })
  })

  it('does not let a CTE shadow the target of a DELETE', () => {
    const query = db
      .with('tasks', (q) => q.selectFrom('users').select('id'))
      .deleteFrom('tasks')
      .where('id', '=', 1)
    assert.equal(inAcme(() => sqlOf(query)).sql, 'with "tasks" as (select "id" from "users") delete from "tasks" where ("id" = $1) and "tasks"."tenant_id" = $2')
  })
})

describe('INSERT scoping', () => {
  it('appends tenant_id to the column list and to a single row', () => {
    const query = db.insertInto('projects').values({ id: 1, name: 'x' })
    assert.deepEqual(inAcme(() => sqlOf(query)), {
      sql: 'insert into "projects" ("id", "name", "tenant_id") values ($1, $2, $3)',
      parameters: [1, 'x', A],
    })
  })

  it('appends tenant_id to every row, primitive and expression rows alike', () => {
    const query = db.insertInto('projects').values([
      { id: 1, name: 'x' },
      { id: 2, name: sql<string>`upper(${'y'})` },
    ])
    assert.deepEqual(inAcme(() => sqlOf(query)), {
      sql: 'insert into "projects" ("id", "name", "tenant_id") values ($1, $2, $3), ($4, upper($5), $6)',
      parameters: [1, 'x', A, 2, 'y', A],
    })
  })

  it('accepts a tenant_id equal to the current tenant, in any letter case', () => {
    const query = db.insertInto('projects').values([
      { id: 1, name: 'x', tenant_id: A },
      { id: 2, name: 'y', tenant_id: A.toUpperCase() },
    ])
    assert.deepEqual(inAcme(() => sqlOf(query)), {
      sql: 'insert into "projects" ("id", "name", "tenant_id") values ($1, $2, $3), ($4, $5, $6)',
      parameters: [1, 'x', A, 2, 'y', A.toUpperCase()],
    })
  })

  it('rejects an insert whose tenant_id names another tenant', () => {
    refusedIn(db.insertInto('projects').values({ id: 1, name: 'x', tenant_id: globex.id }), 'TENANT_MISMATCH')
    refusedIn(
      db.insertInto('projects').values([
        { id: 1, name: sql<string>`lower(${'x'})`, tenant_id: A },
        { id: 2, name: 'y', tenant_id: globex.id },
      ]),
      'TENANT_MISMATCH',
    )
  })

  it('refuses a tenant_id given as an expression', () => {
    refusedIn(db.insertInto('projects').values({ id: 1, name: 'x', tenant_id: sql<string>`gen_random_uuid()` }), 'QUERY_REFUSED')
  })

  it('fills a defaulted tenant_id with the current tenant', () => {
    const query = db.insertInto('projects').values([
      { id: 1, name: 'x', tenant_id: A },
      { id: 2, name: 'y' },
    ])
    assert.deepEqual(inAcme(() => sqlOf(query)), {
      sql: 'insert into "projects" ("id", "name", "tenant_id") values ($1, $2, $3), ($4, $5, $6)',
      parameters: [1, 'x', A, 2, 'y', A],
    })
  })

  it('turns DEFAULT VALUES into a row holding only tenant_id', () => {
    assert.deepEqual(inAcme(() => sqlOf(db.insertInto('comments').defaultValues())), {
      sql: 'insert into "comments" ("tenant_id") values ($1)',
      parameters: [A],
    })
  })

  it('refuses rows without a column list', () => {
    refusedIn(db.insertInto('projects').expression((eb) => eb.selectFrom('projects').select(['id', 'name'])), 'QUERY_REFUSED')
  })

  it('appends tenant_id to the select list of an INSERT ... SELECT, and scopes the source', () => {
    const query = db
      .insertInto('tasks')
      .columns(['id', 'title', 'project_id'])
      .expression((eb) => eb.selectFrom('projects').select(['id', 'name', 'id as project_id']).where('name', '=', 'x'))
    assert.deepEqual(inAcme(() => sqlOf(query)), {
      sql:
        'insert into "tasks" ("id", "title", "project_id", "tenant_id")' +
        ' select "id", "name", "id" as "project_id", $1 as "tenant_id" from "projects" where ("name" = $2) and "projects"."tenant_id" = $3',
      parameters: [A, 'x', A],
    })
  })

  it('wraps an INSERT ... SELECT whose source is a UNION as a whole to add tenant_id', () => {
    const query = db
      .insertInto('tasks')
      .columns(['id', 'title'])
      .expression((eb) => eb.selectFrom('projects').select(['id', 'name']).union(eb.selectFrom('users').select(['id', 'name'])))
    assert.equal(
      inAcme(() => sqlOf(query)).sql,
      'insert into "tasks" ("id", "title", "tenant_id") select "__tenantry_src".*, $1 as "tenant_id"' +
        ' from (select "id", "name" from "projects" where "projects"."tenant_id" = $2 union select "id", "name" from "users") as "__tenantry_src"',
    )
  })

  it('refuses an INSERT ... SELECT that lists tenant_id (omit it; Tenantry sets it)', () => {
    refusedIn(
      db
        .insertInto('tasks')
        .columns(['id', 'title', 'tenant_id'])
        .expression((eb) => eb.selectFrom('projects').select(['id', 'name', 'tenant_id'])),
      'QUERY_REFUSED',
    )
  })

  it('refuses an ON CONFLICT DO UPDATE that sets tenant_id', () => {
    refusedIn(
      db
        .insertInto('projects')
        .values({ id: 1, name: 'x' })
        .onConflict((oc) => oc.column('id').doUpdateSet({ tenant_id: A })),
      'QUERY_REFUSED',
    )
  })

  it('limits ON CONFLICT DO UPDATE to the tenant\'s own conflicting row', () => {
    const query = db
      .insertInto('projects')
      .values({ id: 1, name: 'x' })
      .onConflict((oc) => oc.column('id').doUpdateSet((eb) => ({ name: eb.ref('excluded.name') })))
    assert.deepEqual(inAcme(() => sqlOf(query)), {
      sql: 'insert into "projects" ("id", "name", "tenant_id") values ($1, $2, $3) on conflict ("id") do update set "name" = "excluded"."name" where "projects"."tenant_id" = $4',
      parameters: [1, 'x', A, A],
    })
  })

  it('adds the tenant predicate to an existing ON CONFLICT WHERE, in parentheses, and scopes subqueries in its SET', () => {
    const query = db
      .insertInto('projects')
      .values({ id: 1, name: 'x' })
      .onConflict((oc) =>
        oc
          .column('id')
          .doUpdateSet((eb) => ({ name: eb.selectFrom('tasks').select('title').limit(1) }))
          .where((eb) => eb('projects.name', '=', 'a').or('projects.name', '=', 'b')),
      )
    assert.deepEqual(inAcme(() => sqlOf(query)), {
      sql:
        'insert into "projects" ("id", "name", "tenant_id") values ($1, $2, $3) on conflict ("id") do update set "name" = (select "title" from "tasks" where "tasks"."tenant_id" = $4 limit $5)' +
        ' where ("projects"."name" = $6 or "projects"."name" = $7) and "projects"."tenant_id" = $8',
      parameters: [1, 'x', A, A, 1, 'a', 'b', A],
    })
  })

  it('leaves ON CONFLICT DO NOTHING as it is', () => {
    const query = db
      .insertInto('projects')
      .values({ id: 1, name: 'x' })
      .onConflict((oc) => oc.column('id').doNothing())
    assert.equal(inAcme(() => sqlOf(query)).sql, 'insert into "projects" ("id", "name", "tenant_id") values ($1, $2, $3) on conflict ("id") do nothing')
  })

  it('scopes subqueries in VALUES and RETURNING', () => {
    const query = db
      .insertInto('tasks')
      .values((eb) => ({ id: 1, title: 'x', project_id: eb.selectFrom('projects').select('id').where('name', '=', 'p') }))
      .returning((eb) => ['id', eb.selectFrom('comments').select('body').whereRef('comments.task_id', '=', 'tasks.id').limit(1).as('body')])
    assert.deepEqual(inAcme(() => sqlOf(query)), {
      sql:
        'insert into "tasks" ("id", "title", "project_id", "tenant_id") values ($1, $2, (select "id" from "projects" where ("name" = $3) and "projects"."tenant_id" = $4), $5)' +
        ' returning "id", (select "body" from "comments" where ("comments"."task_id" = "tasks"."id") and "comments"."tenant_id" = $6 limit $7) as "body"',
      parameters: [1, 'x', 'p', A, A, A, 1],
    })
  })

  it('refuses REPLACE into a tenant table', () => {
    refusedIn(db.replaceInto('projects').values({ id: 1, name: 'x' }), 'QUERY_REFUSED')
  })

  it('leaves an insert into a global table alone but scopes its subqueries', () => {
    const build = (k: typeof db) => k.insertInto('users').values({ id: 1, name: 'x' }).returning('id')
    assert.deepEqual(inAcme(() => sqlOf(build(db))), sqlOf(build(unscoped)))
    const query = db
      .insertInto('users')
      .columns(['id', 'name'])
      .expression((eb) => eb.selectFrom('projects').select(['id', 'name']))
    assert.deepEqual(inAcme(() => sqlOf(query)), {
      sql: 'insert into "users" ("id", "name") select "id", "name" from "projects" where "projects"."tenant_id" = $1',
      parameters: [A],
    })
  })
})
