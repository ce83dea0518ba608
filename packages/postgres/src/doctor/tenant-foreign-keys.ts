import pg from 'pg'
import type { Queryable } from '../catalog/transaction.ts'
import type { DoctorFinding } from './report.ts'

const q = (identifier: string): string => pg.escapeIdentifier(identifier)

interface ForeignKeyRow {
  name: string
  /** `schema.table`, as other findings name tables. */
  source_name: string
  target_name: string
  /** Quoted where needed, for the fix. */
  source: string
  target: string
  columns: string[]
  referenced: string[]
  on_update: string
  on_delete: string
  match_full: boolean
  deferrable: boolean
  deferred: boolean
  target_key: boolean
}

/** `pg_constraint.confupdtype`/`confdeltype` to SQL; `a` (no action) is the default and left out. */
const ACTIONS: Record<string, string> = { r: 'restrict', c: 'cascade', n: 'set null', d: 'set default' }

/**
 * `fk.without_tenant` (a warning): a foreign key between two tables that both
 * carry the tenant column, one of them a tenant table of the model, whose
 * columns leave the tenant column out. PostgreSQL checks a reference past
 * row-level security, so a row of tenant A may point at a row of tenant B:
 * whether the insert fails tells A whether B's id exists, and with `no action`
 * or `restrict` A's row stops B from deleting its own. The fix makes the key
 * composite, `(tenant_id, col) → (tenant_id, id)`, so a reference can only
 * name a row of its own tenant.
 *
 * A warning, not an error: no row of another tenant is read or changed
 * through it (RLS still hides B's row from A's joins, and a cascade from B's
 * delete reaches only the rows A chose to point at B), and the fix is a
 * migration that rewrites a constraint and takes its locks, which a schema
 * that worked yesterday should be given time for, not be refused at boot over.
 * A sequence-assigned key (guessable) makes the oracle cheap; a uuid key does not.
 *
 * @example
 * await checkTenantForeignKeys(pool, tenantTableOids, 'tenant_id', findings)
 */
export async function checkTenantForeignKeys(client: Queryable, tenantTables: readonly number[], tenantColumn: string, findings: DoctorFinding[]): Promise<void> {
  // Constraints cloned onto partitions (conparentid <> 0) are their parent's; the parent is reported.
  const rows = (await client.query<ForeignKeyRow>(
    `select c.conname as name, sn.nspname || '.' || s.relname as source_name, tn.nspname || '.' || t.relname as target_name,
            quote_ident(sn.nspname) || '.' || quote_ident(s.relname) as source,
            quote_ident(tn.nspname) || '.' || quote_ident(t.relname) as target,
            (select array_agg(a.attname::text order by k.i) from unnest(c.conkey) with ordinality k(attnum, i)
               join pg_attribute a on a.attrelid = c.conrelid and a.attnum = k.attnum) as columns,
            (select array_agg(a.attname::text order by k.i) from unnest(c.confkey) with ordinality k(attnum, i)
               join pg_attribute a on a.attrelid = c.confrelid and a.attnum = k.attnum) as referenced,
            c.confupdtype::text as on_update, c.confdeltype::text as on_delete, c.confmatchtype = 'f' as match_full,
            c.condeferrable as deferrable, c.condeferred as deferred,
            exists (select 1 from pg_index i
                     where i.indrelid = c.confrelid and i.indisunique and i.indpred is null and i.indexprs is null
                       and (select array_agg(x order by x) from unnest(i.indkey::int2[]) x)
                         = (select array_agg(x order by x) from unnest(array_append(c.confkey, ta.attnum)) x)) as target_key
       from pg_constraint c
       join pg_class s on s.oid = c.conrelid join pg_namespace sn on sn.oid = s.relnamespace
       join pg_class t on t.oid = c.confrelid join pg_namespace tn on tn.oid = t.relnamespace
       join pg_attribute sa on sa.attrelid = c.conrelid and sa.attname = $2 and not sa.attisdropped
       join pg_attribute ta on ta.attrelid = c.confrelid and ta.attname = $2 and not ta.attisdropped
      where c.contype = 'f' and c.conparentid = 0
        and (c.conrelid = any($1::oid[]) or c.confrelid = any($1::oid[]))
        and not exists (select 1 from unnest(c.conkey, c.confkey) as pair(source_attnum, target_attnum)
                         where pair.source_attnum = sa.attnum and pair.target_attnum = ta.attnum)
      order by 2, 1`,
    [tenantTables, tenantColumn],
  )).rows
  const tenant = q(tenantColumn)
  for (const fk of rows) {
    const columns = fk.columns.map(q)
    const referenced = fk.referenced.map(q)
    // A composite key set to NULL as a whole would null the tenant column too (PostgreSQL 15+ names the columns).
    const onDelete = ACTIONS[fk.on_delete] === undefined ? ''
      : fk.on_delete === 'n' || fk.on_delete === 'd' ? ` on delete ${ACTIONS[fk.on_delete]} (${columns.join(', ')})` : ` on delete ${ACTIONS[fk.on_delete]}`
    const onUpdate = ACTIONS[fk.on_update] === undefined ? '' : ` on update ${ACTIONS[fk.on_update]}`
    const timing = fk.deferrable ? ` deferrable initially ${fk.deferred ? 'deferred' : 'immediate'}` : ''
    const constraint = q(fk.name)
    const fix = [
      fk.target_key ? undefined : `alter table ${fk.target} add unique (${tenant}, ${referenced.join(', ')})`,
      `alter table ${fk.source} drop constraint ${constraint}, add constraint ${constraint} foreign key (${tenant}, ${columns.join(', ')}) references ${fk.target} (${tenant}, ${referenced.join(', ')})${fk.match_full ? ' match full' : ''}${onUpdate}${onDelete}${timing} not valid`,
      `alter table ${fk.source} validate constraint ${constraint}`,
    ].filter((s) => s !== undefined).join(';\n')
    findings.push({
      severity: 'warning', check: 'fk.without_tenant', table: fk.source_name,
      message: `Foreign key ${fk.name} of ${fk.source_name} (${fk.columns.join(', ')}) references ${fk.target_name} (${fk.referenced.join(', ')}) without ${tenantColumn}: PostgreSQL checks it past row-level security, so a tenant's row can point at another tenant's, and whether the insert fails tells a tenant that another tenant's id exists.`,
      fix,
    })
  }
}
