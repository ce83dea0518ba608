import { createHash } from 'node:crypto'
import { TenantryError, type Tenant } from '@tenantry/core'
import type pg from 'pg'

/** Which set a migration belongs to: the control plane (runs once) or the tenant set (runs per target). */
export type MigrationSetName = 'control' | 'tenant'

/** Where a migration of the tenant set runs: the shared tables, a tenant schema or a tenant database. */
export type MigrationModel = 'control' | 'shared' | 'schema' | 'database'

/**
 * What a migration's `up` and `down` get: a client inside the target's
 * transaction (with `search_path` set to the tenant's schema in the schema model,
 * and to the shared tables' schema in the shared model), and where it runs.
 */
export interface MigrationContext {
  readonly client: pg.ClientBase
  readonly model: MigrationModel
  /** The tenant whose schema or database this is (undefined for the control plane and the shared tables). */
  readonly tenant?: Tenant
  /** The schema the migration runs in (shared and schema models). */
  readonly schema?: string
}

/** A migration's step: SQL text (one or more statements), or a function. */
export type MigrationStep = string | ((context: MigrationContext) => Promise<void> | void)

/**
 * A migration as written by its author.
 *
 * @example
 * const addDueDate = defineMigration({
 *   id: '0002_task_due_date',
 *   up: 'alter table tasks add column due_at timestamptz',
 *   down: 'alter table tasks drop column due_at',
 * })
 */
export interface MigrationDefinition {
  /** Unique, stable, and ordered by string comparison (`0001_projects`, `0002_tasks`). */
  readonly id: string
  readonly up: MigrationStep
  readonly down?: MigrationStep
  /**
   * Run inside the target's transaction (default). Set false for statements
   * PostgreSQL refuses in a transaction (`create index concurrently`); such a
   * migration runs alone and cannot be rolled back if it fails halfway.
   */
  readonly transaction?: boolean
  /**
   * Identifies the migration's content; editing an applied migration is an
   * error. Default: a SHA-256 of its id and SQL steps. A function step's body is
   * not part of it (its text changes from one build to the next): give a
   * checksum (or a version string) and change it when the function changes.
   * `loadMigrations` checksums whole files.
   */
  readonly checksum?: string
}

/** A migration ready to run: its checksum computed. */
export interface Migration {
  readonly id: string
  readonly checksum: string
  readonly up: MigrationStep
  readonly down: MigrationStep | undefined
  readonly transaction: boolean
}

const ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$/

/** Orders migrations (and ledger rows) by id. */
export const byId = (a: { readonly id: string }, b: { readonly id: string }): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)

/** SHA-256 (hex) of a text, with line endings normalised. */
export function checksumOf(text: string): string {
  return createHash('sha256').update(text.replace(/\r\n/g, '\n')).digest('hex')
}

// A function's source text changes with the build (tsx, tsc, a bundler), so an
// inline function step counts by its presence only; loadMigrations checksums files.
function stepText(step: MigrationStep | undefined): string {
  return step === undefined ? '' : typeof step === 'string' ? step : '<function>'
}

/**
 * Validates a definition and computes its checksum.
 *
 * @example
 * const m = defineMigration({ id: '0001_projects', up: 'create table projects (id uuid primary key)' })
 */
export function defineMigration(definition: MigrationDefinition): Migration {
  const problems: string[] = []
  if (typeof definition?.id !== 'string' || !ID.test(definition.id)) problems.push('id must be 1-200 letters, digits, "_", "." or "-", starting with a letter or digit')
  if (typeof definition?.up !== 'string' && typeof definition?.up !== 'function') problems.push('up must be SQL text or a function')
  if (definition?.down !== undefined && typeof definition.down !== 'string' && typeof definition.down !== 'function') problems.push('down must be SQL text or a function')
  if (problems.length) {
    throw new TenantryError('VALIDATION_FAILED', `Invalid migration ${JSON.stringify(definition?.id)}: ${problems.join('; ')}`, {
      details: problems.map((message) => ({ path: `migration.${String(definition?.id)}`, message })),
    })
  }
  return {
    id: definition.id,
    checksum: definition.checksum ?? checksumOf(`${definition.id}\n${stepText(definition.up)}\n-- down\n${stepText(definition.down)}`),
    up: definition.up,
    down: definition.down,
    transaction: definition.transaction ?? true,
  }
}

/**
 * An ordered, validated list of migrations (sorted by id; ids unique).
 *
 * @example
 * const tenantSet = migrationSet([defineMigration({ id: '0001', up: '…' }), defineMigration({ id: '0002', up: '…' })])
 */
export function migrationSet(migrations: readonly MigrationDefinition[]): readonly Migration[] {
  // A Migration is a MigrationDefinition whose checksum is kept as it is.
  const list = migrations.map((m) => defineMigration(m))
  const sorted = [...list].sort(byId)
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]?.id === sorted[i - 1]?.id) {
      throw new TenantryError('VALIDATION_FAILED', `Two migrations share the id "${sorted[i]?.id}"; ids must be unique within a set`)
    }
  }
  return Object.freeze(sorted)
}

/**
 * A digest of applied migrations, in order: equal digests mean the same ids with
 * the same checksums. The ledger keeps one per target, so "is this target
 * current?" is one comparison.
 */
export function digestOf(applied: readonly Pick<Migration, 'id' | 'checksum'>[]): string {
  const hash = createHash('sha256')
  for (const m of applied) hash.update(`${m.id}:${m.checksum}\n`)
  return hash.digest('hex')
}

/** Runs one step with the context's client. */
export async function runStep(step: MigrationStep, context: MigrationContext): Promise<void> {
  if (typeof step === 'string') {
    if (step.trim() !== '') await context.client.query(step)
    return
  }
  await step(context)
}
