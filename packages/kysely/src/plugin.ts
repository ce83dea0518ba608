import {
  MergeQueryNode,
  RawNode,
  type KyselyPlugin,
  type PluginTransformQueryArgs,
  type PluginTransformResultArgs,
  type QueryResult,
  type RootOperationNode,
  type UnknownRow,
} from 'kysely'
import { queryScope, validationError, type ScopedTenant, type ValidationIssue } from '@tenantry/core'
import { refuseQuery } from './refusal.ts'
import { inspectStatement, refuseSchemaChange } from './statement-guards.ts'
import { originalOf, stampNode, SYSTEM_STAMP } from './stamps.ts'
import type { TenantTableRules } from './table-refs.ts'
import { TenantScopeTransformer } from './transformer.ts'
import { isTrusted } from './trusted.ts'

/** What the plugin does with one tenant's queries (see `TenantScopePluginOptions.rulesFor`). */
export interface TenantQueryRules {
  readonly rewrite: boolean
  readonly allowedSchemas: readonly string[] | 'any'
}

const DEFAULT_RULES: TenantQueryRules = Object.freeze({ rewrite: true, allowedSchemas: 'any' })

/**
 * Options of `TenantScopePlugin`.
 *
 * @example
 * const options: TenantScopePluginOptions = { tables: ['projects', 'tasks'], tenantColumn: 'tenant_id', filter: true }
 */
export interface TenantScopePluginOptions {
  /**
   * The tenant tables, by unqualified name: `projects` matches `projects` and
   * `app.projects` alike. Each must have a NOT NULL tenant column.
   */
  readonly tables: readonly string[]
  /** The tenant column of every tenant table. Default `tenant_id`. */
  readonly tenantColumn?: string
  /**
   * Add tenant predicates to reads and writes, and check a tenant_id an INSERT
   * gives. Default true. `false` is RLS-only mode: no predicates and no check of a
   * given tenant_id (RLS's WITH CHECK is the wall), but INSERT still gets the
   * tenant column where it leaves it out, QUERY_REFUSED refusals still apply and
   * queries are still stamped for the driver.
   */
  readonly filter?: boolean
  /**
   * What to do with a tenant's queries, asked once per compile: whether to
   * rewrite them (`rewrite`), and which schemas they may name explicitly
   * (`withSchema`, `'schema.table'`): `'any'`, or a list (empty = no qualified
   * names at all). Default: rewrite every tenant's, any schema. A process that
   * serves tenants of several isolation models answers per tenant: a schema or
   * database tenant's tables carry no tenant column, so its queries are only
   * checked (refusals) and stamped, and where tenants live in schemas of their
   * own a qualified name could reach another tenant's schema.
   *
   * @example
   * rulesFor: (t) => (t.isolation ?? 'shared') === 'shared' ? { rewrite: true, allowedSchemas: ['public'] } : { rewrite: false, allowedSchemas: [] }
   */
  readonly rulesFor?: (tenant: ScopedTenant) => TenantQueryRules
}

/**
 * The tenant filter of the shared model: a Kysely plugin that scopes every query
 * to the tenant in context (`runWithTenant`). It adds `tenant_id = $tenant` to
 * every SELECT / UPDATE / DELETE level (outer joins in their ON clause, existing
 * WHERE in parentheses), sets `tenant_id` on INSERT (refusing another tenant's),
 * refuses what it cannot make safe (raw SQL, MERGE, changing `tenant_id`) and
 * stamps the query with its tenant (`tenantStampOf`). Outside any scope it throws
 * TENANT_CONTEXT_MISSING; in `runAsSystem` it changes nothing.
 *
 * Put it last in the plugin list: a plugin after it would change the query
 * after scoping and drop the stamp. Kysely also runs plugins on a sub-builder of
 * this instance when it is embedded (`where('id', 'in', db.selectFrom(...))`), so
 * build subqueries with the expression builder (`eb.selectFrom`) or inside a scope.
 *
 * @example
 * const db = new Kysely<DB>({ dialect, plugins: [new TenantScopePlugin({ tables: ['projects', 'tasks'] })] })
 * await runWithTenant(acme, () => db.selectFrom('projects').selectAll().execute())
 * // select * from "projects" where "projects"."tenant_id" = $1   [acme.id]
 */
export class TenantScopePlugin implements KyselyPlugin {
  readonly #rules: TenantTableRules
  #shared: TenantScopeTransformer | undefined

  readonly #rulesFor: ((tenant: ScopedTenant) => TenantQueryRules) | undefined

  constructor(options: TenantScopePluginOptions) {
    this.#rules = resolveRules(options)
    if (options.rulesFor !== undefined && typeof options.rulesFor !== 'function') {
      throw validationError([{ path: 'rulesFor', message: "must be a function (tenant) => { rewrite, allowedSchemas }" }])
    }
    this.#rulesFor = options.rulesFor
  }

  /** The reusable transformer, or a fresh one if it is mid-transform (re-entry). */
  #transformer(): TenantScopeTransformer {
    this.#shared ??= new TenantScopeTransformer(this.#rules)
    return this.#shared.busy ? new TenantScopeTransformer(this.#rules) : this.#shared
  }

  transformQuery({ node, queryId }: PluginTransformQueryArgs): RootOperationNode {
    const scope = queryScope()
    // A fresh copy per compile, so a stamp is never overwritten by a later compile
    // of the same builder in another scope.
    if (scope.kind === 'system') {
      return stampNode(Object.freeze({ ...node }), { scope: SYSTEM_STAMP, opaque: inspectStatement(node, 'any', 'system').opaque }, node)
    }
    const original = originalOf(node)
    if (RawNode.is(original)) {
      if (!isTrusted(original)) {
        refuseQuery('raw SQL (sql`...`.execute) cannot be scoped to the tenant; use the query builder, or wrap the sql`` in trusted() once reviewed')
      }
      return stampNode(Object.freeze({ ...original }), { scope: scope.tenant.id, opaque: true }, original)
    }
    if (MergeQueryNode.is(original)) refuseQuery('MERGE cannot be scoped to the tenant; use INSERT ... ON CONFLICT, UPDATE and DELETE')
    refuseSchemaChange(original)
    const rules = this.#rulesFor?.(scope.tenant) ?? DEFAULT_RULES
    const facts = inspectStatement(original, rules.allowedSchemas)
    const stamp = { scope: scope.tenant.id, opaque: facts.opaque }
    if (!rules.rewrite) return stampNode(Object.freeze({ ...original }), stamp, original)
    const scoped = this.#transformer().scope(original, scope.tenant.id, queryId, facts.nested)
    return stampNode(scoped, stamp, original)
  }

  async transformResult({ result }: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return result
  }
}

function resolveRules(options: TenantScopePluginOptions): TenantTableRules {
  if (typeof options !== 'object' || options === null) {
    throw validationError([{ path: 'options', message: 'must be an object { tables, tenantColumn?, filter? }' }])
  }
  const issues: ValidationIssue[] = []
  const { tables, tenantColumn = 'tenant_id', filter = true } = options
  if (!Array.isArray(tables) || tables.length === 0) {
    issues.push({ path: 'tables', message: 'must list at least one tenant table' })
  } else {
    tables.forEach((table: unknown, index) => {
      const problem = nameProblem(table, 'table')
      if (problem) issues.push({ path: `tables[${index}]`, message: problem })
    })
  }
  const columnProblem = nameProblem(tenantColumn, 'column')
  if (columnProblem) issues.push({ path: 'tenantColumn', message: columnProblem })
  if (typeof filter !== 'boolean') issues.push({ path: 'filter', message: 'must be a boolean' })
  if (issues.length > 0) throw validationError(issues)
  return Object.freeze({ tables: new Set(tables), tenantColumn, filter })
}

function nameProblem(name: unknown, what: 'table' | 'column'): string | undefined {
  if (typeof name !== 'string' || name.length === 0) return `must be a non-empty ${what} name`
  if (name.trim() !== name) return `must not start or end with whitespace`
  // Tables are matched by unqualified name in any schema; a qualified name would never match.
  if (name.includes('.')) return `must be an unqualified ${what} name (no schema or table prefix)`
  return undefined
}
