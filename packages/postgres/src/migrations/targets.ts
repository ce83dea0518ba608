/**
 * Where a migration set runs: the control plane, the shared tables, a tenant's
 * schema or a tenant's database. Each target knows how to get a connection and
 * how to prepare a transaction on it (search_path), and where its ledger is.
 */
import { TenantryError, type Tenant } from '@tenantry/core'
import pg from 'pg'
import { holdClient } from '../driver/held-client.ts'
import type { PostgresTarget } from '../driver/target.ts'
import { CONTROL_TARGET } from './ledger.ts'
import type { MigrationModel, MigrationSetName } from './migration.ts'

/** A checked-out connection to a target, given back with `release`. */
export interface TargetConnection {
  readonly client: pg.ClientBase
  release(broken?: boolean): void
}

/**
 * One place a migration set runs. `ledger: 'control'` targets live in the
 * control-plane database, so their ledger rows commit in the same transaction
 * as their DDL; `'local'` targets (tenant databases) keep their own ledger in
 * the tenant database, mirrored to the control plane after each commit.
 */
export interface MigrationTarget {
  readonly set: MigrationSetName
  /** Ledger key: `control`, `shared`, or the tenant's id. */
  readonly key: string
  readonly model: MigrationModel
  readonly tenant?: Tenant
  /** The schema DDL goes to (shared and schema models). */
  readonly schema?: string
  readonly ledger: 'control' | 'local'
  /** For messages and progress: `tenant acme (schema)`. */
  readonly label: string
  connect(): Promise<TargetConnection>
  /**
   * Runs in the target's transaction after the last step of a run that applied
   * something, before commit: the shared tables' walls (RLS, policies, grants),
   * so a new table is never committed without them.
   */
  readonly afterUp?: (client: pg.ClientBase) => Promise<void>
  /**
   * Runs at the start of each of the target's transactions: a schema tenant's
   * signed scope, so a migration that reads or writes rows sees the tenant's
   * rows under FORCE row-level security even when the owner is no superuser.
   */
  readonly enter?: (client: pg.ClientBase, local?: boolean) => Promise<void>
}

/** Connections of a target from a pool. */
export function poolConnection(pool: pg.Pool): () => Promise<TargetConnection> {
  return async () => holdClient(await pool.connect())
}

export function controlTarget(control: PostgresTarget): MigrationTarget {
  return { set: 'control', key: CONTROL_TARGET, model: 'control', ledger: 'control', label: 'control plane', connect: poolConnection(control.pool) }
}

/**
 * Opens a transaction on the target: search_path to its schema (checked to
 * exist), and a transaction-level advisory lock on the target so that two
 * runners, or a runner and a provisioning, never migrate it at once. BEGIN,
 * the lock and the search_path go in one round trip (one simple-protocol
 * query, the values inlined as literals): a fleet run opens a transaction per
 * target, many at once.
 */
export async function beginOn(target: MigrationTarget, client: pg.ClientBase): Promise<void> {
  const lock = `select pg_advisory_xact_lock(hashtext('tenantry.migrate'), hashtext(${pg.escapeLiteral(`${target.set}:${target.key}`)}))`
  const point = pointAtSql(target, true)
  const results = await client.query(point === undefined ? `begin; ${lock}` : `begin; ${lock}; ${point}`)
  if (point !== undefined) assertPointed(target, [results].flat().at(-1))
  if (target.enter) await target.enter(client)
}

/** Sets search_path to the target's schema (transaction-local when `local`), refusing a missing schema. */
export async function pointAt(target: MigrationTarget, client: pg.ClientBase, local: boolean): Promise<void> {
  const point = pointAtSql(target, local)
  if (point === undefined) return
  assertPointed(target, await client.query(point))
}

/** The statement that points the session at the target's schema and says whether it exists; none without a schema. */
function pointAtSql(target: MigrationTarget, local: boolean): string | undefined {
  if (target.schema === undefined) return undefined
  const schema = pg.escapeLiteral(pg.escapeIdentifier(target.schema))
  return `select set_config('search_path', ${schema}, ${local}) is not null and to_regnamespace(${schema}) is not null as present`
}

function assertPointed(target: MigrationTarget, result: pg.QueryResult | undefined): void {
  if ((result?.rows[0] as { present?: boolean } | undefined)?.present !== true) {
    throw new TenantryError('TENANT_PLACEMENT_MISSING', `The schema "${target.schema}" of ${target.label} does not exist; provision the tenant before migrating it`)
  }
}
