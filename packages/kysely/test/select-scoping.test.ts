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

describe('SELECT scoping', () => {
  it('adds the tenant predicate to a simple select', () => {
    assert.deepEqual(inAcme(() => sqlOf(db.selectFrom('projects').selectAll())), {
      sql: 'select * from "projects" where "projects"."tenant_id" = $1',
      parameters: [A],
    })
  })

  it('wraps an existing WHERE in parentheses so an OR cannot escape the tenant predicate', () => {
    const query = db
      .selectFrom('projects')
      .selectAll()
      .where((eb) => eb('name', '=', 'a').or('name', '=', 'b'))
    assert.deepEqual(inAcme(() => sqlOf(query)), {
      sql: 'select * from "projects" where ("name" = $1 or "name" = $2) and "projects"."tenant_id" = $3',
      parameters: ['a', 'b', A],
    })
  })

  it('does not double the parentheses of a WHERE that already has them', () => {
    const query = db
      .selectFrom('projects')
      .selectAll()
      .where((eb) => eb.parens(eb('name', '=', 'a').or('name', '=', 'b')))
    assert.equal(inAcme(() => sqlOf(query)).sql, 'select * from "projects" where ("name" = $1 or "name" = $2) and "projects"."tenant_id" = $3')
  })

  it('qualifies the predicate of an aliased table by its alias', () => {
    assert.deepEqual(inAcme(() => sqlOf(db.selectFrom('projects as p').select('p.name'))), {
      sql: 'select "p"."name" from "projects" as "p" where "p"."tenant_id" = $1',
      parameters: [A],
    })
  })

  it('matches a schema-qualified tenant table by its name and qualifies the predicate with the schema', () => {
    assert.deepEqual(inAcme(() => sqlOf(db.selectFrom('public.projects').selectAll())), {
      sql: 'select * from "public"."projects" where "public"."projects"."tenant_id" = $1',
      parameters: [A],
    })
  })

  it('filters every tenant table of a FROM list and leaves global tables alone', () => {
    const query = db.selectFrom(['projects as p', 'users as u', 'tasks']).select('p.name').whereRef('u.id', '=', 'p.owner_id')
    assert.deepEqual(inAcme(() => sqlOf(query)), {
      sql: 'select "p"."name" from "projects" as "p", "users" as "u", "tasks" where ("u"."id" = "p"."owner_id") and "p"."tenant_id" = $1 and "tasks"."tenant_id" = $2',
      parameters: ids(acme, 2),
    })
  })

  it('compiles a query touching no tenant table exactly as without the plugin', () => {
    const build = (k: typeof db) =>
      k
        .selectFrom('users as u')
        .leftJoin('users as v', 'v.id', 'u.id')
        .select((eb) => ['u.name', eb.selectFrom('users').select('name').whereRef('users.id', '=', 'u.id').as('same')])
        .where((eb) => eb.or([eb('u.id', '=', 1), eb.exists(eb.selectFrom('users').select('id'))]))
        .union((eb) => eb.selectFrom('users').select(['name', 'name as same']))
    assert.deepEqual(inAcme(() => sqlOf(build(db))), sqlOf(build(unscoped)))
  })
})

describe('JOIN scoping', () => {
  it('puts the tenant predicate of an INNER JOINed table in its ON clause', () => {
    const query = db.selectFrom('projects as p').innerJoin('tasks as t', 't.project_id', 'p.id').select(['p.name', 't.title'])
    assert.deepEqual(inAcme(() => sqlOf(query)), {
      sql: 'select "p"."name", "t"."title" from "projects" as "p" inner join "tasks" as "t" on ("t"."project_id" = "p"."id") and "t"."tenant_id" = $1 where "p"."tenant_id" = $2',
      parameters: ids(acme, 2),
    })
  })

  it('puts the tenant predicate of a LEFT JOINed table in its ON clause', () => {
    const query = db.selectFrom('projects as p').leftJoin('tasks as t', 't.project_id', 'p.id').select(['p.name', 't.title'])
    assert.deepEqual(inAcme(() => sqlOf(query)), {
      sql: 'select "p"."name", "t"."title" from "projects" as "p" left join "tasks" as "t" on ("t"."project_id" = "p"."id") and "t"."tenant_id" = $1 where "p"."tenant_id" = $2',
      parameters: ids(acme, 2),
    })
  })

  it('moves the left side of a RIGHT JOIN into its ON clause and filters the right side in WHERE', () => {
    const query = db.selectFrom('projects as p').rightJoin('tasks as t', 't.project_id', 'p.id').select(['p.name', 't.title'])
    assert.deepEqual(inAcme(() => sqlOf(query)), {
      sql: 'select "p"."name", "t"."title" from "projects" as "p" right join "tasks" as "t" on ("t"."project_id" = "p"."id") and "t"."tenant_id" = $1 and "p"."tenant_id" = $2 where "t"."tenant_id" = $3',
      parameters: ids(acme, 3),
    })
  })

  it('lets a null-padded table through a RIGHT JOIN ON clause with a tolerant predicate', () => {
    const query = db
      .selectFrom('projects as p')
      .leftJoin('tasks as t', 't.project_id', 'p.id')
      .rightJoin('comments as c', 'c.task_id', 't.id')
      .select(['p.name', 't.title', 'c.body'])
    assert.deepEqual(inAcme(() => sqlOf(query)), {
      sql:
        'select "p"."name", "t"."title", "c"."body" from "projects" as "p"' +
        ' left join "tasks" as "t" on ("t"."project_id" = "p"."id") and "t"."tenant_id" = $1' +
        ' right join "comments" as "c" on ("c"."task_id" = "t"."id") and "c"."tenant_id" = $2 and "p"."tenant_id" = $3 and ("t"."tenant_id" = $4 or "t"."tenant_id" is null)' +
        ' where "c"."tenant_id" = $5',
      parameters: ids(acme, 5),
    })
  })

  it('filters both sides of a FULL JOIN in its ON clause and tolerantly in WHERE', () => {
    const query = db.selectFrom('projects as p').fullJoin('tasks as t', 't.project_id', 'p.id').select(['p.name', 't.title'])
    assert.deepEqual(inAcme(() => sqlOf(query)), {
      sql:
        'select "p"."name", "t"."title" from "projects" as "p" full join "tasks" as "t" on ("t"."project_id" = "p"."id") and "t"."tenant_id" = $1 and "p"."tenant_id" = $2' +
        ' where ("p"."tenant_id" = $3 or "p"."tenant_id" is null) and ("t"."tenant_id" = $4 or "t"."tenant_id" is null)',
      parameters: ids(acme, 4),
    })
  })

  it('filters a CROSS JOINed table in WHERE', () => {
    const query = db.selectFrom('projects as p').crossJoin('tasks as t').select(['p.name', 't.title'])
    assert.deepEqual(inAcme(() => sqlOf(query)), {
      sql: 'select "p"."name", "t"."title" from "projects" as "p" cross join "tasks" as "t" where "p"."tenant_id" = $1 and "t"."tenant_id" = $2',
      parameters: ids(acme, 2),
    })
  })

  it('keeps earlier FROM items in WHERE when a RIGHT JOIN binds only to the last one', () => {
    const query = db.selectFrom(['comments as c', 'projects as p']).rightJoin('tasks as t', 't.project_id', 'p.id').select('t.title')
    assert.deepEqual(inAcme(() => sqlOf(query)), {
      sql:
        'select "t"."title" from "comments" as "c", "projects" as "p" right join "tasks" as "t" on ("t"."project_id" = "p"."id") and "t"."tenant_id" = $1 and "p"."tenant_id" = $2' +
        ' where "c"."tenant_id" = $3 and "t"."tenant_id" = $4',
      parameters: ids(acme, 4),
    })
  })

  it('leaves the ON clause of a global table untouched', () => {
    const query = db.selectFrom('projects as p').innerJoin('users as u', 'u.id', 'p.owner_id').select(['p.name', 'u.name as owner'])
    assert.deepEqual(inAcme(() => sqlOf(query)), {
      sql: 'select "p"."name", "u"."name" as "owner" from "projects" as "p" inner join "users" as "u" on "u"."id" = "p"."owner_id" where "p"."tenant_id" = $1',
      parameters: [A],
    })
  })

  it('scopes a joined subquery inside and adds no predicate of its own', () => {
    const query = db
      .selectFrom('projects as p')
      .innerJoin((eb) => eb.selectFrom('tasks').select('project_id').as('t'), (join) => join.onRef('t.project_id', '=', 'p.id'))
      .select('p.name')
    assert.deepEqual(inAcme(() => sqlOf(query)), {
      sql: 'select "p"."name" from "projects" as "p" inner join (select "project_id" from "tasks" where "tasks"."tenant_id" = $1) as "t" on "t"."project_id" = "p"."id" where "p"."tenant_id" = $2',
      parameters: ids(acme, 2),
    })
  })

  it('does not count a joined subquery among the tables a RIGHT JOIN makes tolerant', () => {
    const query = db
      .selectFrom((eb) => eb.selectFrom('projects').select('id').as('p'))
      .rightJoin('tasks as t', 't.project_id', 'p.id')
      .select('t.title')
    assert.deepEqual(inAcme(() => sqlOf(query)), {
      sql: 'select "t"."title" from (select "id" from "projects" where "projects"."tenant_id" = $1) as "p" right join "tasks" as "t" on ("t"."project_id" = "p"."id") and "t"."tenant_id" = $2 where "t"."tenant_id" = $3',
      parameters: ids(acme, 3),
    })
  })

  it('scopes the inside of INNER, LEFT and CROSS lateral joins', () => {
    const query = db
      .selectFrom('projects as p')
      .innerJoinLateral((eb) => eb.selectFrom('tasks').select('title').whereRef('tasks.project_id', '=', 'p.id').as('t'), (join) => join.onTrue())
      .leftJoinLateral((eb) => eb.selectFrom('comments').select('body').whereRef('comments.task_id', '=', 'p.id').as('c'), (join) => join.onTrue())
      .crossJoinLateral((eb) => eb.selectFrom('users').select('name').whereRef('users.id', '=', 'p.owner_id').as('u'))
      .select(['p.name', 't.title', 'c.body', 'u.name as owner'])
    assert.deepEqual(inAcme(() => sqlOf(query)), {
      sql:
        'select "p"."name", "t"."title", "c"."body", "u"."name" as "owner" from "projects" as "p"' +
        ' inner join lateral (select "title" from "tasks" where ("tasks"."project_id" = "p"."id") and "tasks"."tenant_id" = $1) as "t" on true' +
        ' left join lateral (select "body" from "comments" where ("comments"."task_id" = "p"."id") and "comments"."tenant_id" = $2) as "c" on true' +
        ' cross join lateral (select "name" from "users" where "users"."id" = "p"."owner_id") as "u"' +
        ' where "p"."tenant_id" = $3',
      parameters: ids(acme, 3),
    })
  })

  it('refuses an OUTER APPLY of a tenant table, which has no ON clause for its predicate', () => {
    const query = db.selectFrom('projects as p').outerApply('tasks as t').select('p.name')
    assert.throws(() => inAcme(() => query.compile()), { name: 'TenantryError', code: 'QUERY_REFUSED' })
  })

  it('filters a CROSS APPLYed tenant table in WHERE', () => {
    const query = db.selectFrom('projects as p').crossApply('tasks as t').select('p.name')
    assert.equal(inAcme(() => sqlOf(query)).sql, 'select "p"."name" from "projects" as "p" cross apply "tasks" as "t" where "p"."tenant_id" = $1 and "t"."tenant_id" = $2')
  })
})

describe('subquery scoping', () => {
  it('scopes a subquery in WHERE ... IN', () => {
    const query = db
      .selectFrom('projects')
      .select('name')
      .where('id', 'in', (eb) => eb.selectFrom('tasks').select('project_id'))
    assert.deepEqual(inAcme(() => sqlOf(query)), {
      sql: 'select "name" from "projects" where ("id" in (select "project_id" from "tasks" where "tasks"."tenant_id" = $1)) and "projects"."tenant_id" = $2',
      parameters: ids(acme, 2),
    })
  })

  it('scopes a correlated EXISTS subquery', () => {
    const query = db
      .selectFrom('projects')
      .select('name')
      .where((eb) => eb.exists(eb.selectFrom('tasks').select('tasks.id').whereRef('tasks.project_id', '=', 'projects.id')))
    assert.deepEqual(inAcme(() => sqlOf(query)), {
      sql: 'select "name" from "projects" where (exists (select "tasks"."id" from "tasks" where ("tasks"."project_id" = "projects"."id") and "tasks"."tenant_id" = $1)) and "projects"."tenant_id" = $2',
      parameters: ids(acme, 2),
    })
  })

  it('scopes a scalar subquery in the select list', () => {
    const query = db
      .selectFrom('projects')
      .select((eb) => [
        'name',
        eb
          .selectFrom('tasks')
          .select((e) => e.fn.countAll().as('n'))
          .whereRef('tasks.project_id', '=', 'projects.id')
          .as('task_count'),
      ])
    assert.deepEqual(inAcme(() => sqlOf(query)), {
      sql: 'select "name", (select count(*) as "n" from "tasks" where ("tasks"."project_id" = "projects"."id") and "tasks"."tenant_id" = $1) as "task_count" from "projects" where "projects"."tenant_id" = $2',
      parameters: ids(acme, 2),
    })
  })

  it('scopes a derived table in FROM and adds no predicate for the derived table itself', () => {
    const query = db.selectFrom((eb) => eb.selectFrom('projects').select(['id', 'name']).as('p')).selectAll()
    assert.deepEqual(inAcme(() => sqlOf(query)), {
      sql: 'select * from (select "id", "name" from "projects" where "projects"."tenant_id" = $1) as "p"',
      parameters: [A],
    })
  })

  it('scopes a subquery in HAVING', () => {
    const query = db
      .selectFrom('tasks')
      .select('project_id')
      .groupBy('project_id')
      .having('project_id', 'in', (eb) => eb.selectFrom('projects').select('id'))
    assert.deepEqual(inAcme(() => sqlOf(query)), {
      sql: 'select "project_id" from "tasks" where "tasks"."tenant_id" = $1 group by "project_id" having "project_id" in (select "id" from "projects" where "projects"."tenant_id" = $2)',
      parameters: ids(acme, 2),
    })
  })

  it('scopes every arm of a UNION', () => {
    // A sub-builder of the scoped instance is scoped when embedded, so it is built in the scope.
    const query = inAcme(() =>
      db
        .selectFrom('projects')
        .select('name')
        .union(db.selectFrom('tasks').select('title as name'))
        .unionAll((eb) => eb.selectFrom('users').select('name')),
    )
    assert.deepEqual(inAcme(() => sqlOf(query)), {
      sql: 'select "name" from "projects" where "projects"."tenant_id" = $1 union select "title" as "name" from "tasks" where "tasks"."tenant_id" = $2 union all select "name" from "users"',
      parameters: ids(acme, 2),
    })
  })

  it('scopes a sub-builder made in another tenant\'s scope to the tenant of the outer query, once', () => {
    // Kysely runs the plugin on a builder when it is embedded; the outer compile
    // starts again from the original node, so the predicate is single and current.
    const taskProjects = runWithTenant(globex, () => db.selectFrom('tasks').select('project_id'))
    const query = runWithTenant(globex, () => db.selectFrom('projects').select('name').where('id', 'in', taskProjects))
    assert.deepEqual(inAcme(() => sqlOf(query)), {
      sql: 'select "name" from "projects" where ("id" in (select "project_id" from "tasks" where "tasks"."tenant_id" = $1)) and "projects"."tenant_id" = $2',
      parameters: ids(acme, 2),
    })
  })
})

describe('raw fragments', () => {
  it('passes raw SQL inside an expression through untouched (RLS is the wall there)', () => {
    const query = db.selectFrom('projects').select('name').where(sql<boolean>`length(name) > ${3}`)
    assert.deepEqual(inAcme(() => sqlOf(query)), {
      sql: 'select "name" from "projects" where (length(name) > $1) and "projects"."tenant_id" = $2',
      parameters: [3, A],
    })
  })
})
