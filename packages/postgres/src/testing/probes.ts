import type { TableShape } from './shapes.ts'
import { describeError, hasTenantryCode, sqlStateOf } from './report.ts'
import { isComparable, replacementValue } from './sample-rows.ts'
import { asTenant, foreignRows, knownRows, matchAs, planRowFor, preview, rowText, type AnyEb, type KitState, type Row } from './kit-state.ts'

/** SQLSTATE of "new row violates row-level security policy". */
const RLS_VIOLATION = '42501'

/** How a failure names the rows B must not see. */
export function foreignLabel(state: KitState): string {
  return state.placed ? `row(s) that are not tenant B's` : 'row(s) of tenant A'
}

export function leakDetail(state: KitState, rows: readonly Row[], what: string): string | undefined {
  return rows.length === 0 ? undefined : `${what} returned ${rows.length} ${foreignLabel(state)}: ${preview(rows)}`
}

/** B looks for A's rows of one table by key, by filter, through aggregates and by A's schema. */
export async function probeReadsAsB(state: KitState, shape: TableShape): Promise<void> {
  const { db, log, a, b, tenantColumn } = state
  const table = shape.name
  const aRows = state.written.of('a', table)
  const bRows = state.written.of('b', table)
  const bColumn = state.columnOf.b

  await log.run('select.by-primary-key', table, async () => {
    const rows = await asTenant(b, () => db.selectFrom(table).selectAll().where((eb) => matchAs(state, 'b', eb, shape, aRows, { byContent: false })).execute())
    // Keys repeat across placements (serial keys), so there B may find its own rows.
    const leaked = state.placed ? foreignRows(state, 'b', table, rows) : rows
    return leaked.length === 0 ? undefined : `B selected ${leaked.length} row(s) by A's keys: ${preview(leaked)}`
  })

  await log.run('select.by-filter', table, async () => {
    const matchesA = (eb: AnyEb) =>
      eb.or([
        ...(bColumn === null ? [] : [eb(bColumn, '=', a.id)]),
        ...aRows.flatMap((row) =>
          shape.columns
            .filter((c) => c.name !== tenantColumn && isComparable(c) && row[c.name] !== null && row[c.name] !== undefined)
            .map((c) => eb(c.name, '=', row[c.name])),
        ),
      ])
    const rows = await asTenant(b, () => db.selectFrom(table).selectAll().where(matchesA).execute())
    const what = bColumn === null ? `a filter matching A's rows (any column = A's value)` : `a filter matching A's rows (tenant column = A or any column = A's value)`
    return leakDetail(state, foreignRows(state, 'b', table, rows), what)
  })

  await log.run('aggregate.count', table, async () => {
    const row = await asTenant(b, () => db.selectFrom(table).select((eb) => eb.fn.countAll().as('n')).executeTakeFirst())
    const n = Number(row?.n)
    return n === bRows.length ? undefined : `count(*) as B is ${n}, but B wrote ${bRows.length} row(s)`
  })

  if (bColumn !== null) {
    await log.run('aggregate.group-by-tenant', table, async () => {
      const groups = await asTenant(b, () =>
        db.selectFrom(table).select((eb) => [eb.ref(bColumn).as('tenant'), eb.fn.countAll().as('n')]).groupBy(bColumn).execute(),
      )
      const expected = JSON.stringify([{ tenant: b.id.toLowerCase(), n: bRows.length }])
      const seen = JSON.stringify(groups.map((g) => ({ tenant: String(g.tenant).toLowerCase(), n: Number(g.n) })))
      return seen === expected ? undefined : `count(*) grouped by ${bColumn} as B gave ${seen}, expected ${expected}`
    })
  }

  await probeSchemaQualified(state, shape)
}

/**
 * B names A's table with A's schema. It must be refused, fail, or return B's own
 * rows only (a database tenant finds its own table under the same name).
 */
async function probeSchemaQualified(state: KitState, shape: TableShape): Promise<void> {
  const { db, log, b, schema } = state
  const table = shape.name
  let rows: Row[]
  try {
    rows = await asTenant(b, () => db.withSchema(schema).selectFrom(table).selectAll().execute())
  } catch (error) {
    log.pass('select.schema-qualified', table, `${schema}.${table} as B: ${describeError(error)}`)
    return
  }
  const leaked = foreignRows(state, 'b', table, rows)
  if (leaked.length === 0) log.pass('select.schema-qualified', table, `${schema}.${table} as B gave ${rows.length} row(s), all B's`)
  else log.fail('select.schema-qualified', table, leakDetail(state, leaked, `selecting ${schema}.${table} (A's schema) as B`) ?? '')
}

/** B tries to change A's rows, to write a row that names A, and checks where its own insert lands. */
export async function probeWritesAsB(state: KitState, shape: TableShape): Promise<void> {
  const { db, log, a, b, tenantColumn } = state
  const table = shape.name
  const aRows = state.written.of('a', table)

  const inForeignKey = new Set(shape.foreignKeys.flatMap((fk) => fk.columns))
  const target = shape.columns.find(
    (c) => c.name !== tenantColumn && !shape.primaryKey.includes(c.name) && !inForeignKey.has(c.name) && !c.generated && replacementValue(c) !== undefined,
  )
  const replacement = target === undefined ? undefined : { column: target.name, value: replacementValue(target) }
  await log.run('update.by-primary-key', table, async () => {
    const key = shape.primaryKey[0] ?? shape.columns.find((c) => c.name !== tenantColumn)?.name
    if (key === undefined) return 'the table has no column to update besides the tenant column'
    // Counted by RETURNING, not by the affected-row count: a client under test may not report one.
    const touched = await asTenant(b, () =>
      db
        .updateTable(table)
        .set((eb: AnyEb) => (replacement ? { [replacement.column]: replacement.value } : { [key]: eb.ref(key) }))
        .where((eb) => matchAs(state, 'b', eb, shape, aRows))
        .returningAll()
        .execute(),
    )
    return touched.length === 0 ? undefined : `UPDATE by A's keys as B touched ${touched.length} row(s)`
  })

  await log.run('delete.by-primary-key', table, async () => {
    // Matched by content with a placed tenant: also as a leaked UPDATE above left them.
    const updated = replacement === undefined ? [] : aRows.map((row) => ({ ...row, [replacement.column]: replacement.value }))
    const removed = await asTenant(b, () => db.deleteFrom(table).where((eb) => matchAs(state, 'b', eb, shape, [...aRows, ...updated])).returningAll().execute())
    return removed.length === 0 ? undefined : `DELETE by A's keys as B removed ${removed.length} row(s)`
  })

  const bColumn = state.columnOf.b
  if (bColumn !== null) {
    await log.run('insert.foreign-tenant', table, async () => {
      const parents = firstRows(state, 'a')
      const planned = planRowFor({ ...state, columnOf: { a: bColumn, b: bColumn } }, 'a', shape, 90, parents)
      if (!('row' in planned)) return `cannot build a row: ${planned.unsupported.join(', ')}`
      try {
        const written = await asTenant(b, () => db.insertInto(table).values(planned.row).returningAll().execute())
        for (const row of written) state.extra.add('a', table, row)
        return `B inserted a row whose ${bColumn} names tenant A`
      } catch (error) {
        if (hasTenantryCode(error, 'TENANT_MISMATCH') || sqlStateOf(error) === RLS_VIOLATION) return undefined
        return `the insert failed, but not because of a tenant wall (expected TENANT_MISMATCH or an RLS violation): ${describeError(error)}`
      }
    })
  }

  if (state.placed) {
    await log.run('insert.own-placement', table, async () => {
      const planned = planRowFor(state, 'b', shape, 91, firstRows(state, 'b'))
      if (!('row' in planned)) return `cannot build a row: ${planned.unsupported.join(', ')}`
      const written = await asTenant(b, () => db.insertInto(table).values(planned.row).returningAll().executeTakeFirstOrThrow())
      state.extra.add('b', table, written)
      const byA = await asTenant(a, () => db.selectFrom(table).selectAll().where((eb) => matchAs(state, 'a', eb, shape, [written])).execute())
      if (byA.length > 0) return `a row B inserted is visible to A: ${preview(byA)}`
      const byB = await asTenant(b, () => db.selectFrom(table).selectAll().where((eb) => matchAs(state, 'b', eb, shape, [written])).execute())
      return byB.length === 1 ? undefined : `B reads back ${byB.length} row(s) for the one it inserted`
    })
  }
}

/** The first row `label` wrote in each table: the parents of a new row. */
function firstRows(state: KitState, label: 'a' | 'b'): Map<string, Row> {
  return new Map(state.shapes.map((s) => [s.name, state.written.of(label, s.name)[0]] as const).filter((e): e is [string, Row] => e[1] !== undefined))
}

/** A reads its rows back: all there, unchanged, and nothing else. */
export async function probeOwnRowsAsA(state: KitState, shape: TableShape): Promise<void> {
  const { db, log, a } = state
  const table = shape.name
  const aRows = knownRows(state, 'a', table)
  const seen = await asTenant(a, () => db.selectFrom(table).selectAll().execute()).catch((error: unknown) => error)
  if (!Array.isArray(seen)) {
    log.fail('a.rows-unchanged', table, `A could not read its rows: ${describeError(seen)}`)
    return
  }
  const now = new Set(seen.map((r: Row) => rowText(r)))
  const changed = aRows.filter((row) => !now.has(rowText(row)))
  if (changed.length === 0) log.pass('a.rows-unchanged', table)
  else log.fail('a.rows-unchanged', table, `${changed.length} of A's rows changed or vanished after B's attempts: ${preview(changed)}`)
  const foreign = foreignRows(state, 'a', table, seen)
  if (seen.length === aRows.length && foreign.length === 0) log.pass('a.sees-only-own-rows', table)
  else log.fail('a.sees-only-own-rows', table, `A sees ${seen.length} row(s), expected its ${aRows.length}; ${foreign.length} of them belong to another tenant: ${preview(foreign)}`)
}
