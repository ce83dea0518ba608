import {
  AliasNode,
  ColumnNode,
  DefaultInsertValueNode,
  IdentifierNode,
  InsertQueryNode,
  JSONReferenceNode,
  ParensNode,
  PrimitiveValueListNode,
  RawNode,
  ReferenceNode,
  SelectionNode,
  SelectQueryNode,
  TableNode,
  ValueListNode,
  ValueNode,
  ValuesNode,
  WhereNode,
  type ColumnUpdateNode,
  type OnConflictNode,
  type OperationNode,
  type ValuesItemNode,
} from 'kysely'
import { TenantryError } from '@tenantry/core'
import { conjoin, type TenantPredicates } from './predicates.ts'
import { refuseQuery } from './refusal.ts'
import type { TenantTableRules } from './table-refs.ts'
import { isTrusted } from './trusted.ts'

/** The derived-table alias of a wrapped INSERT ... SELECT source; the source cannot see it. */
export const INSERT_SOURCE_ALIAS = '__tenantry_src'

/**
 * Refuses a SET list (UPDATE, or ON CONFLICT DO UPDATE) that assigns the tenant
 * column: a row never moves to another tenant. A target Tenantry cannot name is
 * refused too, since it might be the tenant column.
 */
export function assertTenantColumnKept(updates: readonly ColumnUpdateNode[] | undefined, rules: TenantTableRules): void {
  for (const update of updates ?? []) {
    const name = assignedColumnName(update.column)
    if (name === undefined) refuseQuery(`a SET target that is not a plain column cannot be checked against ${rules.tenantColumn}`)
    if (name === rules.tenantColumn) refuseQuery(`${rules.tenantColumn} cannot be changed; a row stays with its tenant`)
  }
}

function assignedColumnName(node: OperationNode): string | undefined {
  if (ColumnNode.is(node)) return node.column.name
  if (ReferenceNode.is(node)) return ColumnNode.is(node.column) ? node.column.column.name : undefined
  if (JSONReferenceNode.is(node)) return assignedColumnName(node.reference)
  return undefined
}

/**
 * Scopes an INSERT into a tenant table (its subqueries are already scoped): the
 * tenant column is set to the current tenant on every row, a value naming another
 * tenant is refused, and ON CONFLICT DO UPDATE may only update the tenant's rows.
 * In RLS-only mode a tenant_id the statement gives is left to RLS's WITH CHECK.
 */
export function scopeInsert(node: InsertQueryNode, table: TableNode, rules: TenantTableRules, predicates: TenantPredicates): InsertQueryNode {
  if (node.replace === true || node.orAction?.action.toLowerCase() === 'replace') {
    refuseQuery('REPLACE deletes the conflicting row, which may belong to another tenant; use ON CONFLICT DO UPDATE')
  }
  if (node.onDuplicateKey !== undefined) {
    refuseQuery('ON DUPLICATE KEY UPDATE may update another tenant\'s row and takes no WHERE; use ON CONFLICT DO UPDATE')
  }
  const source = scopeSource(node, table, rules, predicates)
  return InsertQueryNode.cloneWith(node, { ...source, onConflict: scopeOnConflict(node.onConflict, table, rules, predicates) })
}

interface InsertSource {
  readonly columns: readonly ColumnNode[]
  readonly values: OperationNode
  readonly defaultValues: boolean | undefined
}

function scopeSource(node: InsertQueryNode, table: TableNode, rules: TenantTableRules, predicates: TenantPredicates): InsertSource {
  const { columns, values } = node
  if (values === undefined) {
    if (node.defaultValues !== true || (columns !== undefined && columns.length > 0)) refuseQuery('an INSERT with nothing to insert')
    // DEFAULT VALUES becomes (tenant_id) VALUES ($tenant): every other column keeps its default.
    return {
      columns: [ColumnNode.create(rules.tenantColumn)],
      values: ValuesNode.create([ValueListNode.create([predicates.value()])]),
      defaultValues: undefined,
    }
  }
  if (columns === undefined) refuseQuery(`an INSERT into tenant table "${table.table.identifier.name}" must list its columns`)
  const tenantIndex = columns.findIndex((column) => column.column.name === rules.tenantColumn)
  // RLS-only mode leaves a tenant_id the statement gives to RLS's WITH CHECK; it only fills one left out.
  const checkGiven = rules.filter
  if (ValuesNode.is(values)) {
    if (tenantIndex === -1) {
      return {
        columns: [...columns, ColumnNode.create(rules.tenantColumn)],
        values: ValuesNode.create(values.values.map((row) => appendTenant(row, predicates))),
        defaultValues: node.defaultValues,
      }
    }
    const rows = values.values.map((row) => fillTenant(row, tenantIndex, checkGiven, table, rules, predicates))
    return { columns, values: ValuesNode.create(rows), defaultValues: node.defaultValues }
  }
  if (SelectQueryNode.is(values) || (RawNode.is(values) && isTrusted(values))) {
    if (tenantIndex !== -1) {
      if (!checkGiven) return { columns, values, defaultValues: node.defaultValues }
      refuseQuery(`omit ${rules.tenantColumn} from an INSERT ... SELECT; Tenantry sets it`)
    }
    return {
      columns: [...columns, ColumnNode.create(rules.tenantColumn)],
      values: withTenantColumn(values, rules, predicates),
      defaultValues: node.defaultValues,
    }
  }
  return refuseQuery(`the rows of an INSERT into tenant table "${table.table.identifier.name}" must be VALUES or a SELECT built with Kysely`)
}

function appendTenant(row: ValuesItemNode, predicates: TenantPredicates): ValuesItemNode {
  return PrimitiveValueListNode.is(row)
    ? PrimitiveValueListNode.create([...row.values, predicates.tenantId])
    : ValueListNode.create([...row.values, predicates.value()])
}

/** Fills a DEFAULT tenant_id with the tenant; checks a given one unless `checkGiven` is off. */
function fillTenant(row: ValuesItemNode, index: number, checkGiven: boolean, table: TableNode, rules: TenantTableRules, predicates: TenantPredicates): ValuesItemNode {
  const mismatch = (): never => {
    throw new TenantryError(
      'TENANT_MISMATCH',
      `An INSERT into "${table.table.identifier.name}" sets ${rules.tenantColumn} to another value than the current tenant's id; leave it out and Tenantry sets it`,
    )
  }
  if (PrimitiveValueListNode.is(row)) {
    if (checkGiven && !isTenantId(row.values[index], predicates.tenantId)) mismatch()
    return row
  }
  const value = row.values[index]
  if (value !== undefined && DefaultInsertValueNode.is(value)) {
    return ValueListNode.create(row.values.map((v, i) => (i === index ? predicates.value() : v)))
  }
  if (!checkGiven) return row
  if (value === undefined || !ValueNode.is(value)) {
    refuseQuery(`${rules.tenantColumn} must be given as a plain value (or left out), not an expression`)
  }
  if (!isTenantId(value.value, predicates.tenantId)) mismatch()
  return row
}

function isTenantId(value: unknown, tenantId: string): boolean {
  // UUIDs compare case-insensitively, as PostgreSQL's uuid type does.
  return typeof value === 'string' && value.toLowerCase() === tenantId.toLowerCase()
}

/**
 * Adds the tenant id as the last output column of an INSERT ... SELECT source.
 * A plain SELECT gets it appended to its select list, so PostgreSQL still types
 * the source's untyped parameters by the target columns. A set operation (or a
 * trusted raw source) is wrapped whole:
 * `select "__tenantry_src".*, $tenant as tenant_id from (<source>) as "__tenantry_src"`;
 * a set operation resolves its own parameter types, so wrapping changes none.
 */
function withTenantColumn(source: SelectQueryNode | RawNode, rules: TenantTableRules, predicates: TenantPredicates): SelectQueryNode {
  const tenantColumn = SelectionNode.create(AliasNode.create(predicates.value(), IdentifierNode.create(rules.tenantColumn)))
  if (SelectQueryNode.is(source) && (source.setOperations ?? []).length === 0) {
    return SelectQueryNode.cloneWithSelections(source, [tenantColumn])
  }
  const derived = AliasNode.create(RawNode.is(source) ? ParensNode.create(source) : source, IdentifierNode.create(INSERT_SOURCE_ALIAS))
  return SelectQueryNode.cloneWithSelections(SelectQueryNode.createFrom([derived]), [
    SelectionNode.createSelectAllFromTable(TableNode.create(INSERT_SOURCE_ALIAS)),
    tenantColumn,
  ])
}

function scopeOnConflict(onConflict: OnConflictNode | undefined, table: TableNode, rules: TenantTableRules, predicates: TenantPredicates): OnConflictNode | undefined {
  if (onConflict === undefined || onConflict.doNothing === true || onConflict.updates === undefined) return onConflict
  assertTenantColumnKept(onConflict.updates, rules)
  if (!rules.filter) return onConflict
  // The conflicting row may be another tenant's (a unique key across tenants):
  // then the upsert updates nothing rather than that row.
  const where = conjoin(onConflict.updateWhere?.where, [predicates.strict(table)])
  return where === undefined ? onConflict : Object.freeze({ ...onConflict, updateWhere: WhereNode.create(where) })
}
