import { isTenantryError } from '@tenantry/core'
import type { JoinBuilder } from 'kysely'
import type { ForeignKeyShape, TableShape } from './introspect.ts'
import { describeError, sqlStateOf } from './report.ts'
import { isComparable, planRow, replacementValue } from './sample-rows.ts'
import { asTenant, matchRows, preview, rowText, rowsCarrying, type AnyEb, type KitState, type Row } from './kit-state.ts'

/** SQLSTATE of "new row violates row-level security policy". */
const RLS_VIOLATION = '42501'
const FOREIGN_KEY_VIOLATION = '23503'

function leakDetail(rows: readonly Row[], what: string): string | undefined {
  return rows.length === 0 ? undefined : `${what} returned ${rows.length} row(s) of tenant A: ${preview(rows)}`
}

/** B looks for A's rows of one table by key, by filter and through aggregates. */
export async function probeReadsAsB(state: KitState, shape: TableShape): Promise<void> {
  const { db, log, a, b, tenantColumn } = state
  const table = shape.name
  const aRows = state.written.of('a', table)
  const bRows = state.written.of('b', table)

  await log.run('select.by-primary-key', table, async () => {
    const rows = await asTenant(b, () => db.selectFrom(table).selectAll().where((eb) => matchRows(eb, shape, aRows)).execute())
    return rows.length === 0 ? undefined : `B selected ${rows.length} row(s) by A's keys: ${preview(rows)}`
  })

  await log.run('select.by-filter', table, async () => {
    const matchesA = (eb: AnyEb) =>
      eb.or([
        eb(tenantColumn, '=', a.id),
        ...aRows.flatMap((row) =>
          shape.columns
            .filter((c) => c.name !== tenantColumn && isComparable(c) && row[c.name] !== null && row[c.name] !== undefined)
            .map((c) => eb(c.name, '=', row[c.name])),
        ),
      ])
    const rows = await asTenant(b, () => db.selectFrom(table).selectAll().where(matchesA).execute())
    return leakDetail(rowsCarrying(rows, a.id), `a filter matching A's rows (tenant column = A or any column = A's value)`)
  })

  await log.run('aggregate.count', table, async () => {
    const row = await asTenant(b, () => db.selectFrom(table).select((eb) => eb.fn.countAll().as('n')).executeTakeFirst())
    const n = Number(row?.n)
    return n === bRows.length ? undefined : `count(*) as B is ${n}, but B wrote ${bRows.length} row(s)`
  })

  await log.run('aggregate.group-by-tenant', table, async () => {
    const groups = await asTenant(b, () =>
      db.selectFrom(table).select((eb) => [eb.ref(tenantColumn).as('tenant'), eb.fn.countAll().as('n')]).groupBy(tenantColumn).execute(),
    )
    const expected = JSON.stringify([{ tenant: b.id.toLowerCase(), n: bRows.length }])
    const seen = JSON.stringify(groups.map((g) => ({ tenant: String(g.tenant).toLowerCase(), n: Number(g.n) })))
    return seen === expected ? undefined : `count(*) grouped by ${tenantColumn} as B gave ${seen}, expected ${expected}`
  })
}

/** B tries to change A's rows and to write a row that names A. */
export async function probeWritesAsB(state: KitState, shape: TableShape): Promise<void> {
  const { db, log, a, b, tenantColumn } = state
  const table = shape.name
  const aRows = state.written.of('a', table)

  await log.run('update.by-primary-key', table, async () => {
    const inForeignKey = new Set(shape.foreignKeys.flatMap((fk) => fk.columns))
    const target = shape.columns.find(
      (c) => c.name !== tenantColumn && !shape.primaryKey.includes(c.name) && !inForeignKey.has(c.name) && !c.generated && replacementValue(c) !== undefined,
    )
    const key = shape.primaryKey[0] ?? shape.columns.find((c) => c.name !== tenantColumn)?.name
    if (key === undefined) return 'the table has no column to update besides the tenant column'
    const result = await asTenant(b, () =>
      db
        .updateTable(table)
        .set((eb: AnyEb) => (target ? { [target.name]: replacementValue(target) } : { [key]: eb.ref(key) }))
        .where((eb) => matchRows(eb, shape, aRows))
        .executeTakeFirst(),
    )
    return result.numUpdatedRows === 0n ? undefined : `UPDATE by A's keys as B touched ${result.numUpdatedRows} row(s)`
  })

  await log.run('delete.by-primary-key', table, async () => {
    const result = await asTenant(b, () => db.deleteFrom(table).where((eb) => matchRows(eb, shape, aRows)).executeTakeFirst())
    return result.numDeletedRows === 0n ? undefined : `DELETE by A's keys as B removed ${result.numDeletedRows} row(s)`
  })

  await log.run('insert.foreign-tenant', table, async () => {
    const parents = new Map(state.shapes.map((s) => [s.name, state.written.of('a', s.name)[0]] as const).filter((e): e is [string, Row] => e[1] !== undefined))
    const planned = planRow({ shape, tenantColumn, tenant: a, label: 'a', index: 90, parents, outsideParents: state.outsideParents, deferred: state.deferred, sample: state.samples[table] })
    if (!('row' in planned)) return `cannot build a row: ${planned.unsupported.join(', ')}`
    try {
      const written = await asTenant(b, () => db.insertInto(table).values(planned.row).returningAll().execute())
      for (const row of written) state.extra.add('a', table, row)
      return `B inserted a row whose ${tenantColumn} names tenant A`
    } catch (error) {
      if (isTenantryError(error, 'TENANT_MISMATCH') || sqlStateOf(error) === RLS_VIOLATION) return undefined
      return `the insert failed, but not because of a tenant wall (expected TENANT_MISMATCH or an RLS violation): ${describeError(error)}`
    }
  })
}

/** A reads its rows back: all there, unchanged, and nothing else. */
export async function probeOwnRowsAsA(state: KitState, shape: TableShape): Promise<void> {
  const { db, log, a } = state
  const table = shape.name
  const aRows = [...state.written.of('a', table), ...state.extra.of('a', table)]
  const seen = await asTenant(a, () => db.selectFrom(table).selectAll().execute()).catch((error: unknown) => error)
  if (!Array.isArray(seen)) {
    log.fail('a.rows-unchanged', table, `A could not read its rows: ${describeError(seen)}`)
    return
  }
  const now = new Set(seen.map((r: Row) => rowText(r)))
  const changed = aRows.filter((row) => !now.has(rowText(row)))
  if (changed.length === 0) log.pass('a.rows-unchanged', table)
  else log.fail('a.rows-unchanged', table, `${changed.length} of A's rows changed or vanished after B's attempts: ${preview(changed)}`)
  const foreign = seen.filter((r: Row) => rowsCarrying([r], a.id).length === 0)
  if (seen.length === aRows.length && foreign.length === 0) log.pass('a.sees-only-own-rows', table)
  else log.fail('a.sees-only-own-rows', table, `A sees ${seen.length} row(s), expected its ${aRows.length}; ${foreign.length} of them belong to another tenant: ${preview(foreign)}`)
}

// Foreign key checks do not see row-level security, so a B row can reference A's
// parent row (and an A row B's) unless the key includes the tenant column.
async function writeCrossReferences(state: KitState, child: TableShape, fk: ForeignKeyShape): Promise<void> {
  const { db, log, a, b, tenantColumn } = state
  const notes = new Set<string>()
  for (const [writer, tag, otherTag] of [[b, 'b', 'a'], [a, 'a', 'b']] as const) {
    const parents = new Map<string, Row>()
    for (const s of state.shapes) {
      const own = state.written.of(s.name === fk.parentTable ? otherTag : tag, s.name)[0]
      if (own !== undefined) parents.set(s.name, own)
    }
    const planned = planRow({ shape: child, tenantColumn, tenant: writer, label: tag, index: 50, parents, outsideParents: state.outsideParents, deferred: new Set(), sample: state.samples[child.name] })
    if (!('row' in planned)) {
      log.fail('reference.cross-tenant', child.name, `cannot build a row: ${planned.unsupported.join(', ')}`)
      return
    }
    try {
      const rows = await asTenant(writer, () => db.insertInto(child.name).values(planned.row).returningAll().execute())
      for (const row of rows) state.extra.add(tag, child.name, row)
      notes.add(`${fk.name}: a ${tag.toUpperCase()} row now references ${otherTag.toUpperCase()}'s ${fk.parentTable} row`)
    } catch (error) {
      if (sqlStateOf(error) !== FOREIGN_KEY_VIOLATION) {
        log.fail('reference.cross-tenant', child.name, `writing a ${tag.toUpperCase()} row that references another tenant's ${fk.parentTable} row failed: ${describeError(error)}`)
        return
      }
      notes.add(`${fk.name}: the schema refuses cross-tenant references`)
    }
  }
  log.pass('reference.cross-tenant', child.name, [...notes].join('; '))
}

/**
 * Writes rows that reference the other tenant's parent row, then joins and
 * correlates along the foreign key as B: no row of A may come back either side.
 */
export async function probeReferencesAsB(state: KitState, child: TableShape, fk: ForeignKeyShape): Promise<void> {
  const { db, log, a, b, tenantColumn } = state
  await writeCrossReferences(state, child, fk)
  const on = (join: JoinBuilder<any, any>): JoinBuilder<any, any> =>
    fk.columns.reduce((j, column, i) => j.onRef(`c.${column}`, '=', `p.${fk.parentColumns[i] ?? column}`), join)
  const select = [`c.${tenantColumn} as child_tenant`, `p.${tenantColumn} as parent_tenant`]
  for (const kind of ['innerJoin', 'leftJoin', 'rightJoin', 'fullJoin'] as const) {
    const name = `join.${kind.replace('Join', '')}:${fk.parentTable}`
    await log.run(name, child.name, async () => {
      const from = db.selectFrom(`${child.name} as c`)
      const parent = `${fk.parentTable} as p`
      const joined =
        kind === 'innerJoin' ? from.innerJoin(parent, on) : kind === 'leftJoin' ? from.leftJoin(parent, on) : kind === 'rightJoin' ? from.rightJoin(parent, on) : from.fullJoin(parent, on)
      const rows = await asTenant(b, () => joined.select(select).execute())
      return leakDetail(rowsCarrying(rows, a.id), `${kind} ${child.name} → ${fk.parentTable}`)
    })
  }
  await log.run(`subquery.exists:${child.name}`, fk.parentTable, async () => {
    const rows = await asTenant(b, () =>
      db
        .selectFrom(`${fk.parentTable} as p`)
        .select([`p.${tenantColumn} as parent_tenant`])
        .where((eb) => eb.exists(eb.selectFrom(`${child.name} as c`).select(`c.${tenantColumn}`).where((inner) => inner.and(fk.columns.map((column, i) => inner(`c.${column}`, '=', inner.ref(`p.${fk.parentColumns[i] ?? column}`)))))))
        .execute(),
    )
    return leakDetail(rowsCarrying(rows, a.id), `exists(${child.name}) over ${fk.parentTable}`)
  })
  await log.run(`subquery.scalar:${child.name}`, fk.parentTable, async () => {
    const rows = await asTenant(b, () =>
      db
        .selectFrom(`${fk.parentTable} as p`)
        .select((eb) => [
          `p.${tenantColumn} as parent_tenant`,
          eb
            .selectFrom(`${child.name} as c`)
            .select((inner) => inner.fn.max(inner.cast(`c.${tenantColumn}`, 'text')).as('t'))
            .where((inner) => inner.and(fk.columns.map((column, i) => inner(`c.${column}`, '=', inner.ref(`p.${fk.parentColumns[i] ?? column}`)))))
            .as('child_tenant'),
        ])
        .execute(),
    )
    return leakDetail(rowsCarrying(rows, a.id), `a scalar subquery on ${child.name} per ${fk.parentTable} row`)
  })
}
