import type { JoinBuilder } from 'kysely'
import type { ForeignKeyShape, TableShape } from './shapes.ts'
import { leakDetail } from './probes.ts'
import { describeError, sqlStateOf } from './report.ts'
import { asTenant, columnsVisibleTo, foreignRows, knownRows, planRowFor, preview, type AnyEb, type KitState, type Label, type Row } from './kit-state.ts'

const FOREIGN_KEY_VIOLATION = '23503'

/**
 * The foreign key's (child column, parent column) pairs as `viewer`'s tables have
 * them: a composite key that includes the tenant column (shared tables) loses
 * that column for a placed tenant, whose tables have none.
 */
function keyPairs(state: KitState, viewer: Label, fk: ForeignKeyShape): (readonly [string, string])[] {
  const pairs = fk.columns.map((column, i) => [column, fk.parentColumns[i] ?? column] as const)
  return state.columnOf[viewer] === null && state.tenantColumn !== null ? pairs.filter(([column]) => column !== state.tenantColumn) : pairs
}

/** True when `child` (a row, or the planned values) references `parent` along `pairs`. */
const sameKey = (parent: Row, pairs: readonly (readonly [string, string])[], child: Row): boolean =>
  pairs.length > 0 && pairs.every(([column, parentColumn]) => child[column] !== null && child[column] !== undefined && String(parent[parentColumn]) === String(child[column]))

// Foreign key checks do not see row-level security, so in the shared model a B row
// can reference A's parent row (and an A row B's) unless the key includes the
// tenant column. A placed tenant's foreign keys resolve in its own schema or
// database: there the key of the other tenant's row may name a row of its own
// (serial keys repeat), but never the other tenant's row.
async function writeCrossReferences(state: KitState, child: TableShape, fk: ForeignKeyShape): Promise<boolean> {
  const { db, log, a, b } = state
  const notes = new Set<string>()
  for (const [writer, tag, otherTag] of [[b, 'b', 'a'], [a, 'a', 'b']] as const) {
    const parents = new Map<string, Row>()
    for (const s of state.shapes) {
      const own = state.written.of(s.name === fk.parentTable ? otherTag : tag, s.name)[0]
      if (own !== undefined) parents.set(s.name, own)
    }
    const planned = planRowFor(state, tag, child, 50, parents, new Set())
    if (!('row' in planned)) {
      log.fail('reference.cross-tenant', child.name, `cannot build a row: ${planned.unsupported.join(', ')}`)
      return false
    }
    const [writerTag, otherName] = [tag.toUpperCase(), otherTag.toUpperCase()]
    try {
      const rows = await asTenant(writer, () => db.insertInto(child.name).values(planned.row).returningAll().execute())
      for (const row of rows) state.extra.add(tag, child.name, row)
      if (state.columnOf[tag] !== null) {
        // A shared writer's key resolves in the shared table: the other tenant's row there, or (placed) whichever row has it.
        notes.add(state.columnOf[otherTag] !== null
          ? `${fk.name}: a ${writerTag} row now references ${otherName}'s ${fk.parentTable} row`
          : `${fk.name}: the key of ${otherName}'s ${fk.parentTable} row names a row of the shared table`)
        continue
      }
      const pairs = keyPairs(state, tag, fk)
      const key = pairs.map(([column]) => planned.row[column])
      if (!knownRows(state, tag, fk.parentTable).some((parent) => sameKey(parent, pairs, planned.row))) {
        log.fail('reference.cross-tenant', child.name, `${writerTag}'s foreign key ${fk.name} accepted the key ${JSON.stringify(key)} of ${otherName}'s ${fk.parentTable} row, which ${writerTag}'s own placement does not hold`)
        return false
      }
      notes.add(`${fk.name}: the key of ${otherName}'s ${fk.parentTable} row names ${writerTag}'s own row (keys repeat across placements)`)
    } catch (error) {
      if (sqlStateOf(error) !== FOREIGN_KEY_VIOLATION) {
        log.fail('reference.cross-tenant', child.name, `writing a ${writerTag} row that references another tenant's ${fk.parentTable} row failed: ${describeError(error)}`)
        return false
      }
      notes.add(state.columnOf[tag] === null ? `${fk.name}: ${writerTag}'s foreign key does not see ${otherName}'s rows` : `${fk.name}: the schema refuses cross-tenant references`)
    }
  }
  log.pass('reference.cross-tenant', child.name, [...notes].join('; '))
  return true
}

/**
 * Writes rows that reference the other tenant's parent row, then joins and
 * correlates along the foreign key as B: no row of A may come back either side,
 * and a count of children per parent must count B's children only.
 */
export async function probeReferencesAsB(state: KitState, child: TableShape, fk: ForeignKeyShape): Promise<void> {
  const { db, log, b } = state
  const parent = state.shapes.find((s) => s.name === fk.parentTable)
  if (parent === undefined) return
  await writeCrossReferences(state, child, fk)
  const childColumns = columnsVisibleTo(state, 'b', child)
  const parentColumns = columnsVisibleTo(state, 'b', parent)
  const pairs = keyPairs(state, 'b', fk)
  const correlated = (inner: AnyEb) => inner.and(pairs.map(([column, parentColumn]) => inner(`c.${column}`, '=', inner.ref(`p.${parentColumn}`))))
  const on = (join: JoinBuilder<any, any>): JoinBuilder<any, any> =>
    pairs.reduce((j, [column, parentColumn]) => j.onRef(`c.${column}`, '=', `p.${parentColumn}`), join)
  // Index aliases: column names are the user's, and may collide once prefixed.
  const select = [...childColumns.map((c, i) => `c.${c.name} as c${i}`), ...parentColumns.map((c, i) => `p.${c.name} as p${i}`)]
  const half = (row: Row, prefix: 'c' | 'p', columns: TableShape['columns']): Row | undefined => {
    const values = columns.map((c, i) => [c.name, row[`${prefix}${i}`]] as const)
    return values.every(([, v]) => v === null || v === undefined) ? undefined : Object.fromEntries(values)
  }
  const leakedIn = (rows: readonly Row[]): Row[] => {
    const children = rows.map((r) => half(r, 'c', childColumns)).filter((r): r is Row => r !== undefined)
    const parents = rows.map((r) => half(r, 'p', parentColumns)).filter((r): r is Row => r !== undefined)
    return [...foreignRows(state, 'b', child.name, children), ...foreignRows(state, 'b', parent.name, parents)]
  }
  for (const kind of ['innerJoin', 'leftJoin', 'rightJoin', 'fullJoin'] as const) {
    const name = `join.${kind.replace('Join', '')}:${fk.parentTable}`
    await log.run(name, child.name, async () => {
      const from = db.selectFrom(`${child.name} as c`)
      const target = `${fk.parentTable} as p`
      const joined =
        kind === 'innerJoin' ? from.innerJoin(target, on) : kind === 'leftJoin' ? from.leftJoin(target, on) : kind === 'rightJoin' ? from.rightJoin(target, on) : from.fullJoin(target, on)
      const rows = await asTenant(b, () => joined.select(select).execute())
      return leakDetail(state, leakedIn(rows), `${kind} ${child.name} → ${fk.parentTable}`)
    })
  }
  const parentSelect = parentColumns.map((c) => `p.${c.name}`)
  await log.run(`subquery.exists:${child.name}`, fk.parentTable, async () => {
    const rows = await asTenant(b, () =>
      db
        .selectFrom(`${fk.parentTable} as p`)
        .select(parentSelect)
        .where((eb) => eb.exists(eb.selectFrom(`${child.name} as c`).select((inner) => inner.lit(1).as('one')).where(correlated)))
        .execute(),
    )
    return leakDetail(state, foreignRows(state, 'b', parent.name, rows), `exists(${child.name}) over ${fk.parentTable}`)
  })
  await log.run(`subquery.scalar:${child.name}`, fk.parentTable, async () => {
    const rows = await asTenant(b, () =>
      db
        .selectFrom(`${fk.parentTable} as p`)
        .select((eb) => [...parentSelect, eb.selectFrom(`${child.name} as c`).select((inner) => inner.fn.countAll().as('n')).where(correlated).as('tenantrychildren')])
        .execute(),
    )
    const leaked = foreignRows(state, 'b', parent.name, rows.map(({ tenantrychildren: _, ...row }) => row))
    if (leaked.length > 0) return leakDetail(state, leaked, `a scalar subquery on ${child.name} per ${fk.parentTable} row`)
    const bChildren = knownRows(state, 'b', child.name)
    for (const row of rows) {
      const expected = bChildren.filter((c) => sameKey(row, pairs, c)).length
      const counted = Number(row.tenantrychildren)
      if (counted !== expected) return `a scalar subquery counted ${counted} ${child.name} row(s) for B's ${fk.parentTable} row ${preview([row])}; B holds ${expected}`
    }
    return undefined
  })
}
