import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { runWithTenant } from '@tenantry/core'
import { TenantScopePlugin } from '../src/index.ts'
import { acme, compilingDb, sqlOf, tenantTables } from './support/schema.ts'

const db = compilingDb(new TenantScopePlugin({ tables: tenantTables }))
const A = acme.id

function inAcme<T>(fn: () => T): T {
  return runWithTenant(acme, fn)
}

describe('CTE scoping', () => {
  it('scopes a CTE body and adds no predicate to references to the CTE', () => {
    const query = db
      .with('open_tasks', (q) => q.selectFrom('tasks').select(['id', 'project_id']).where('status', '=', 'todo'))
      .selectFrom('projects as p')
      .innerJoin('open_tasks as o', 'o.project_id', 'p.id')
      .select(['p.name', 'o.id'])
    assert.deepEqual(inAcme(() => sqlOf(query)), {
      sql:
        'with "open_tasks" as (select "id", "project_id" from "tasks" where ("status" = $1) and "tasks"."tenant_id" = $2)' +
        ' select "p"."name", "o"."id" from "projects" as "p" inner join "open_tasks" as "o" on "o"."project_id" = "p"."id" where "p"."tenant_id" = $3',
      parameters: ['todo', A, A],
    })
  })

  it('treats a CTE that shadows a tenant table name as the CTE, and the table inside its own body as the table', () => {
    const query = db
      .with('projects', (q) => q.selectFrom('projects').select(['id', 'name']).where('name', 'like', 'a%'))
      .selectFrom('projects')
      .selectAll()
    assert.deepEqual(inAcme(() => sqlOf(query)), {
      sql: 'with "projects" as (select "id", "name" from "projects" where ("name" like $1) and "projects"."tenant_id" = $2) select * from "projects"',
      parameters: ['a%', A],
    })
  })

  it('always treats a schema-qualified reference as a table, even where a CTE has its name', () => {
    const query = db
      .with('projects', (q) => q.selectFrom('users').select(['id', 'name']))
      .selectFrom('projects')
      .innerJoin('public.projects as real', 'real.id', 'projects.id')
      .select('real.name')
    assert.deepEqual(inAcme(() => sqlOf(query)), {
      sql:
        'with "projects" as (select "id", "name" from "users")' +
        ' select "real"."name" from "projects" inner join "public"."projects" as "real" on ("real"."id" = "projects"."id") and "real"."tenant_id" = $1',
      parameters: [A],
    })
  })

  it('lets a CTE body see only the CTEs before it in a plain WITH', () => {
    const query = db
      .with('first', (q) => q.selectFrom('tasks').select('id'))
      .with('tasks', (q) => q.selectFrom('tasks').select(['id', 'project_id']).where('status', '=', 'done'))
      .with('later', (q) => q.selectFrom('tasks').select('id'))
      .selectFrom('later')
      .selectAll()
    assert.deepEqual(inAcme(() => sqlOf(query)), {
      sql:
        'with "first" as (select "id" from "tasks" where "tasks"."tenant_id" = $1),' +
        ' "tasks" as (select "id", "project_id" from "tasks" where ("status" = $2) and "tasks"."tenant_id" = $3),' +
        ' "later" as (select "id" from "tasks") select * from "later"',
      parameters: [A, 'done', A],
    })
  })

  it('scopes both terms of a WITH RECURSIVE and not the recursive reference', () => {
    const query = db
      .withRecursive('thread(id, reply_to)', (q) =>
        q
          .selectFrom('comments')
          .select(['id', 'reply_to'])
          .where('id', '=', 1)
          .unionAll(q.selectFrom('comments as c').innerJoin('thread', 'thread.id', 'c.reply_to').select(['c.id', 'c.reply_to'])),
      )
      .selectFrom('thread')
      .selectAll()
    assert.deepEqual(inAcme(() => sqlOf(query)), {
      sql:
        'with recursive "thread"("id", "reply_to") as (select "id", "reply_to" from "comments" where ("id" = $1) and "comments"."tenant_id" = $2' +
        ' union all select "c"."id", "c"."reply_to" from "comments" as "c" inner join "thread" on "thread"."id" = "c"."reply_to" where "c"."tenant_id" = $3)' +
        ' select * from "thread"',
      parameters: [1, A, A],
    })
  })

  it('lets every CTE of a WITH RECURSIVE see all of them, later ones included', () => {
    const query = db
      .withRecursive('first', (q) => q.selectFrom('projects').select('id'))
      .with('projects', (q) => q.selectFrom('users').select('id'))
      .selectFrom('first')
      .selectAll()
    assert.deepEqual(inAcme(() => sqlOf(query)), {
      sql: 'with recursive "first" as (select "id" from "projects"), "projects" as (select "id" from "users") select * from "first"',
      parameters: [],
    })
  })

  it('sees the CTEs of an outer query inside a nested subquery', () => {
    const query = db
      .with('projects', (q) => q.selectFrom('users').select(['id', 'name']))
      .selectFrom('tasks')
      .select('title')
      .where('project_id', 'in', (eb) => eb.selectFrom('projects').select('id'))
    assert.deepEqual(inAcme(() => sqlOf(query)), {
      sql: 'with "projects" as (select "id", "name" from "users") select "title" from "tasks" where ("project_id" in (select "id" from "projects")) and "tasks"."tenant_id" = $1',
      parameters: [A],
    })
  })

  it('scopes a data-modifying CTE', () => {
    const query = db
      .with('gone', (q) => q.deleteFrom('tasks').where('status', '=', 'done').returning('id'))
      .selectFrom('gone')
      .selectAll()
    assert.deepEqual(inAcme(() => sqlOf(query)), {
      sql: 'with "gone" as (delete from "tasks" where ("status" = $1) and "tasks"."tenant_id" = $2 returning "id") select * from "gone"',
      parameters: ['done', A],
    })
  })
})
