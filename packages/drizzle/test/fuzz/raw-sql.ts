/**
 * The raw share of the Drizzle fuzzer: a spec as hand-written SQL passed to
 * `db.execute(sql…)`. The text is what the Kysely fuzzer's renderer compiles
 * (WITH RECURSIVE, DELETE … USING and all), with its parameters bound through
 * Drizzle's `sql` template, so nothing Tenantry could rewrite is in the way:
 * only the walls of the scope stand between tenants.
 */
// Kysely<any>: the fuzzer's schema is described at run time.
import { sql, type SQL } from 'drizzle-orm'
import { DummyDriver, Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler } from 'kysely'
import { buildQuery } from '../../../postgres/test/fuzz/render.ts'
import type { QuerySpec } from '../../../postgres/test/fuzz/spec.ts'

/** A Kysely that only compiles. */
const compiler = new Kysely<any>({
  dialect: {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => new DummyDriver(),
    createIntrospector: (db) => new PostgresIntrospector(db),
    createQueryCompiler: () => new PostgresQueryCompiler(),
  },
})

/** The statement's text and parameters (the tenant column of an INSERT left to the database default). */
export function rawText(spec: QuerySpec): { sql: string; params: readonly unknown[] } {
  const compiled = buildQuery(compiler, spec).compile()
  return { sql: compiled.sql, params: compiled.parameters }
}

/** The statement as Drizzle `sql`, each `$n` a bound parameter. */
export function rawStatement(spec: QuerySpec): SQL {
  const { sql: text, params } = rawText(spec)
  const placeholders = [...text.matchAll(/\$(\d+)/g)].map((m) => Number(m[1]))
  // Kysely numbers its placeholders in the order they appear, each once.
  if (placeholders.some((n, i) => n !== i + 1) || placeholders.length !== params.length) {
    throw new Error(`unexpected placeholders in ${text}`)
  }
  const parts = text.split(/\$\d+/)
  return sql.join(parts.flatMap((part, i) => (i === 0 ? [sql.raw(part)] : [sql`${params[i - 1]}`, sql.raw(part)])))
}
