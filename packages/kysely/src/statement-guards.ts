import type { OperationNode } from 'kysely'
import { refuseQuery } from './refusal.ts'

/**
 * Root node kinds that change the schema. Tenant code never needs them, and they
 * can outlive the transaction on a pooled connection: a temporary table created in
 * one tenant's scope would shadow a real table for the next tenant served on the
 * same connection. DDL belongs in migrations or a system scope.
 */
const SCHEMA_CHANGES: ReadonlySet<string> = new Set([
  'CreateTableNode', 'CreateViewNode', 'CreateIndexNode', 'CreateSchemaNode', 'CreateTypeNode',
  'DropTableNode', 'DropViewNode', 'DropIndexNode', 'DropSchemaNode', 'DropTypeNode',
  'AlterTableNode', 'RefreshMaterializedViewNode',
])

/** Throws QUERY_REFUSED for DDL at the root of a tenant query. */
export function refuseSchemaChange(node: OperationNode): void {
  if (SCHEMA_CHANGES.has(node.kind)) {
    refuseQuery(`${node.kind.replace(/Node$/, '')} cannot run in a tenant scope (a temporary or changed object would outlive the transaction on a pooled connection); run schema changes in migrations or runAsSystem()`)
  }
}

/**
 * Functions a builder query may call without the connection being treated as
 * touched: built-ins that read their arguments and nothing of the session.
 * Anything else (a user function, `set_config`, `pg_advisory_lock`, a
 * schema-qualified name) may change session state, so the driver resets the
 * connection after such a query.
 */
const PLAIN_FUNCTIONS: ReadonlySet<string> = new Set([
  'abs', 'array_length', 'btrim', 'ceil', 'char_length', 'coalesce', 'concat', 'concat_ws', 'date_part', 'date_trunc',
  'floor', 'greatest', 'jsonb_build_object', 'json_build_object', 'jsonb_build_array', 'json_build_array', 'least',
  'left', 'length', 'lower', 'lpad', 'ltrim', 'md5', 'now', 'nullif', 'position', 'replace', 'right', 'round',
  'rpad', 'rtrim', 'split_part', 'strpos', 'substr', 'substring', 'to_char', 'to_json', 'to_jsonb', 'trim', 'trunc', 'upper',
  'current_date', 'current_timestamp', 'localtimestamp', 'gen_random_uuid', 'random', 'extract', 'age', 'cardinality',
])

/** Aggregates a builder query may call (`eb.fn.count`, `eb.fn.agg('string_agg', …)`) without touching the session. */
const PLAIN_AGGREGATES: ReadonlySet<string> = new Set([
  'count', 'sum', 'avg', 'min', 'max', 'array_agg', 'string_agg', 'json_agg', 'jsonb_agg', 'json_object_agg', 'jsonb_object_agg',
  'bool_and', 'bool_or', 'every', 'bit_and', 'bit_or', 'stddev', 'stddev_pop', 'stddev_samp', 'variance', 'var_pop', 'var_samp',
  'percentile_cont', 'percentile_disc', 'mode', 'row_number', 'rank', 'dense_rank', 'percent_rank', 'cume_dist', 'ntile',
  'lag', 'lead', 'first_value', 'last_value', 'nth_value',
])

/** What a walk over a tenant query found. */
export interface StatementFacts {
  /** It holds SQL the plugin cannot read, or a call that may change session state. */
  readonly opaque: boolean
  /** A query, CTE or raw fragment stands somewhere below the root (the root alone needs no predicates otherwise). */
  readonly nested: boolean
}

/** Node kinds that can hold a query of their own. */
const NESTING_KINDS: ReadonlySet<string> = new Set(['SelectQueryNode', 'InsertQueryNode', 'UpdateQueryNode', 'DeleteQueryNode', 'MergeQueryNode', 'WithNode', 'RawNode'])

/** The formats PostgreSQL's EXPLAIN takes; Kysely writes the format into the SQL as given. */
const EXPLAIN_FORMATS: ReadonlySet<string> = new Set(['text', 'xml', 'json', 'yaml'])

/** PostgreSQL's EXPLAIN options (`explain(format, sql\`costs off, verbose\`)`). */
const EXPLAIN_OPTIONS: ReadonlySet<string> = new Set([
  'analyze', 'analyse', 'verbose', 'costs', 'settings', 'generic_plan', 'buffers', 'serialize', 'wal', 'timing', 'summary', 'memory', 'format',
])
/** One option: a known name and, optionally, a plain value (a boolean, or a SERIALIZE / FORMAT keyword). */
const EXPLAIN_OPTION = /^([a-z_]+)(?:\s+(true|false|on|off|1|0|none|text|binary|xml|json|yaml))?$/i

/**
 * One walk over a tenant query that refuses what no tenant scope may send and
 * reports what the driver must know:
 *
 * - a name qualified by a schema not in `allowedSchemas` (where tenants have
 *   schemas of their own, `withSchema` or `'schema.table'` could reach another
 *   tenant's schema): QUERY_REFUSED;
 * - `EXPLAIN ANALYZE`: it runs the query and reports the rows the tenant
 *   filter removed, that is how many rows other tenants hold: QUERY_REFUSED
 *   (plain EXPLAIN, with estimates only, is allowed); so are EXPLAIN options
 *   other than known option names with plain values (`costs off, verbose`),
 *   and in every scope an EXPLAIN format other than text, xml, json or yaml
 *   (Kysely writes both into the SQL as given);
 * - raw fragments, and calls of functions or aggregates not known to be free of
 *   side effects (their names are written into the SQL as given), mark the
 *   query opaque.
 *
 * In the system scope (`scope: 'system'`) nothing else is refused; the walk
 * only reports.
 */
export function inspectStatement(node: OperationNode, allowedSchemas: readonly string[] | 'any', scope: 'tenant' | 'system' = 'tenant'): StatementFacts {
  let opaque = false
  let nested = false
  const stack: unknown[] = [node]
  while (stack.length > 0) {
    const item = stack.pop()
    if (Array.isArray(item)) {
      for (const child of item) if (typeof child === 'object' && child !== null) stack.push(child)
      continue
    }
    if (typeof item !== 'object' || item === null) continue
    const candidate = item as { kind?: unknown; schema?: { name?: unknown }; func?: unknown; options?: unknown; sqlFragments?: unknown }
    if (item !== node && typeof candidate.kind === 'string' && NESTING_KINDS.has(candidate.kind)) nested = true
    switch (candidate.kind) {
      case 'ValueNode':
      case 'PrimitiveValueListNode':
        continue
      case 'SchemableIdentifierNode':
        if (candidate.schema !== undefined && allowedSchemas !== 'any' && !allowedSchemas.includes(String(candidate.schema.name))) {
          refuseSchemaQualified(String(candidate.schema.name), allowedSchemas)
        }
        break
      case 'ExplainNode':
        checkExplain(candidate as { format?: unknown; options?: unknown }, scope)
        break
      case 'RawNode':
        // `sql.lit(v)`, `sql.ref('c')`, `sql.val(v)`: a wrapper around one node, with no SQL text of its own.
        if (!Array.isArray(candidate.sqlFragments) || candidate.sqlFragments.some((f) => typeof f !== 'string' || f.trim() !== '')) opaque = true
        break
      case 'FunctionNode':
        if (typeof candidate.func !== 'string' || !PLAIN_FUNCTIONS.has(candidate.func.toLowerCase())) opaque = true
        break
      // Its name is written into the SQL as given, like a function's.
      case 'AggregateFunctionNode':
        if (typeof candidate.func !== 'string' || !PLAIN_AGGREGATES.has(candidate.func.toLowerCase())) opaque = true
        break
    }
    for (const key in item) {
      const value = (item as Record<string, unknown>)[key]
      if (typeof value === 'object' && value !== null) stack.push(value)
    }
  }
  return { opaque, nested }
}

/**
 * Refuses an EXPLAIN whose format or options would put SQL of the caller's
 * choosing into the statement: the format must be one PostgreSQL knows (in
 * every scope; no other value is valid SQL), and in a tenant scope the options
 * must be known option names with plain values, without ANALYZE.
 */
function checkExplain(explain: { format?: unknown; options?: unknown }, scope: 'tenant' | 'system'): void {
  if (explain.format !== undefined && (typeof explain.format !== 'string' || !EXPLAIN_FORMATS.has(explain.format.toLowerCase()))) {
    refuseQuery(`EXPLAIN format ${JSON.stringify(String(explain.format)).slice(0, 60)} is not one of text, xml, json, yaml (Kysely writes it into the SQL as given)`)
  }
  if (scope !== 'tenant' || explain.options === undefined) return
  const text = rawText(explain.options)
  const options = text === undefined ? undefined : text.split(',').map((option) => EXPLAIN_OPTION.exec(option.trim()))
  if (options === undefined || options.some((option) => option === null || !EXPLAIN_OPTIONS.has(option[1]!.toLowerCase()))) {
    refuseQuery('EXPLAIN options must be known option names with plain values (sql`costs off, verbose`), with no parameters or other SQL')
  }
  if (options.some((option) => /^analy[sz]e$/i.test(option![1]!))) {
    refuseQuery('EXPLAIN ANALYZE runs the query and reports how many rows the tenant filter removed (other tenants\' rows); use EXPLAIN without ANALYZE, or run it in runAsSystem()')
  }
}

/**
 * The SQL text of `node` when it is only raw SQL (`sql\`…\``, with nothing
 * interpolated but more raw SQL, `sql.raw`); undefined when it holds anything
 * else (a parameter, a reference).
 */
function rawText(node: unknown): string | undefined {
  const raw = node as { kind?: unknown; sqlFragments?: unknown; parameters?: unknown }
  if (typeof raw !== 'object' || raw === null || raw.kind !== 'RawNode' || !Array.isArray(raw.sqlFragments) || !Array.isArray(raw.parameters)) return undefined
  const fragments = raw.sqlFragments as unknown[]
  const parameters = raw.parameters as unknown[]
  if (fragments.some((f) => typeof f !== 'string') || fragments.length !== parameters.length + 1) return undefined
  let text = fragments[0] as string
  for (let i = 0; i < parameters.length; i++) {
    const inner = rawText(parameters[i])
    if (inner === undefined) return undefined
    text += inner + (fragments[i + 1] as string)
  }
  return text
}

function refuseSchemaQualified(schema: string, allowed: readonly string[]): never {
  return refuseQuery(`The schema-qualified name "${schema}" is not allowed in this tenant's queries (it could reach another tenant's schema); use unqualified names${allowed.length ? ` or the schema${allowed.length > 1 ? 's' : ''} ${allowed.map((a) => `"${a}"`).join(', ')}` : ''}`)
}
