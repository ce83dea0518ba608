import type { CatalogReader, ColumnShape, ForeignKeyShape, TableShape } from './shapes.ts'

interface ColumnRow {
  table_name: string
  name: string
  not_null: boolean
  defaulted: boolean
  generated: boolean
  type: string
  type_kind: string
  category: string
  typmod: number
  enum_labels: string[] | null
}

interface KeyRow {
  table_name: string
  name: string
  kind: 'p' | 'f'
  columns: string[]
  parent_schema: string | null
  parent_table: string | null
  parent_columns: string[] | null
}

const COLUMNS_SQL = `
  select c.relname::text as table_name, a.attname::text as name, a.attnotnull as not_null,
         (a.atthasdef or a.attidentity <> '') as defaulted, a.attgenerated <> '' as generated,
         coalesce(bt.typname, t.typname)::text as type, coalesce(bt.typtype, t.typtype)::text as type_kind,
         coalesce(bt.typcategory, t.typcategory)::text as category,
         (case when a.atttypmod >= 0 then a.atttypmod else t.typtypmod end)::int as typmod,
         (select array_agg(e.enumlabel::text order by e.enumsortorder) from pg_enum e
           where e.enumtypid = coalesce(bt.oid, t.oid)) as enum_labels
    from pg_attribute a
    join pg_class c on c.oid = a.attrelid
    join pg_namespace n on n.oid = c.relnamespace
    join pg_type t on t.oid = a.atttypid
    left join pg_type bt on bt.oid = t.typbasetype and t.typtype = 'd'
   where n.nspname = $1 and c.relname = any($2::text[]) and c.relkind in ('r', 'p')
     and a.attnum > 0 and not a.attisdropped
   order by c.relname, a.attnum`

const KEYS_SQL = `
  select c.relname::text as table_name, con.conname::text as name, con.contype::text as kind,
         array(select a.attname::text from unnest(con.conkey) with ordinality k(num, ord)
                 join pg_attribute a on a.attrelid = con.conrelid and a.attnum = k.num order by k.ord) as columns,
         pn.nspname::text as parent_schema, pc.relname::text as parent_table,
         case when con.contype = 'f' then
           array(select a.attname::text from unnest(con.confkey) with ordinality k(num, ord)
                   join pg_attribute a on a.attrelid = con.confrelid and a.attnum = k.num order by k.ord)
         end as parent_columns
    from pg_constraint con
    join pg_class c on c.oid = con.conrelid
    join pg_namespace n on n.oid = c.relnamespace
    left join pg_class pc on pc.oid = con.confrelid
    left join pg_namespace pn on pn.oid = pc.relnamespace
   where n.nspname = $1 and c.relname = any($2::text[]) and con.contype in ('p', 'f')
   order by c.relname, con.conname`

/**
 * Reads columns, primary keys and foreign keys of `tables` in `schema` from
 * pg_catalog (catalog reads are not subject to row-level security).
 */
export async function introspectTables(read: CatalogReader, schema: string, tables: readonly string[]): Promise<{ shapes: TableShape[]; missing: string[] }> {
  const columns = await read<ColumnRow>(COLUMNS_SQL, [schema, tables])
  const keys = await read<KeyRow>(KEYS_SQL, [schema, tables])
  const shapes: TableShape[] = []
  const missing: string[] = []
  for (const table of tables) {
    const own = columns.filter((c) => c.table_name === table)
    if (own.length === 0) {
      missing.push(table)
      continue
    }
    const tableKeys = keys.filter((k) => k.table_name === table)
    shapes.push({
      name: table,
      columns: own.map((c) => ({
        name: c.name,
        notNull: c.not_null,
        defaulted: c.defaulted || c.generated,
        generated: c.generated,
        type: c.type,
        typeKind: c.type_kind,
        category: c.category,
        typmod: c.typmod,
        enumLabels: c.enum_labels,
      })),
      primaryKey: tableKeys.find((k) => k.kind === 'p')?.columns ?? [],
      foreignKeys: tableKeys
        .filter((k) => k.kind === 'f')
        .map((k) => ({
          name: k.name,
          columns: k.columns,
          parentSchema: k.parent_schema ?? schema,
          parentTable: k.parent_table ?? '',
          parentColumns: k.parent_columns ?? [],
        })),
    })
  }
  return { shapes, missing }
}

/**
 * Orders tables so that every parent comes before its children (foreign keys among
 * the tenant tables). A cycle is broken at a foreign key whose columns are all
 * nullable; such a key is then left NULL. Returns undefined for an unbreakable cycle.
 */
export function parentsFirst(shapes: readonly TableShape[], schema: string): { order: TableShape[]; deferred: Set<string> } | undefined {
  const byName = new Map(shapes.map((s) => [s.name, s]))
  const deferred = new Set<string>()
  const edges = (shape: TableShape): ForeignKeyShape[] =>
    shape.foreignKeys.filter((fk) => fk.parentSchema === schema && fk.parentTable !== shape.name && byName.has(fk.parentTable) && !deferred.has(fk.name))
  for (;;) {
    const order: TableShape[] = []
    const placed = new Set<string>()
    let progress = true
    while (progress) {
      progress = false
      for (const shape of shapes) {
        if (placed.has(shape.name)) continue
        if (edges(shape).every((fk) => placed.has(fk.parentTable))) {
          order.push(shape)
          placed.add(shape.name)
          progress = true
        }
      }
    }
    if (order.length === shapes.length) return { order, deferred }
    const breakable = shapes
      .filter((s) => !placed.has(s.name))
      .flatMap((s) => edges(s).filter((fk) => !placed.has(fk.parentTable)).map((fk) => ({ s, fk })))
      .find(({ s, fk }) => fk.columns.every((c) => !s.columns.find((col) => col.name === c)?.notNull))
    if (breakable === undefined) return undefined
    deferred.add(breakable.fk.name)
  }
}
