/**
 * The SQL Tenantry runs beside pg-boss, in pg-boss's own schema and through
 * its own pool (`boss.getDb()`): the fairness tables (pending counts, the
 * per-tenant cap's leases) and the per-tenant job counts. It reads pg-boss
 * 10's `job` table (`name`, `state`, `priority`, `data`), never writes it.
 */
import { TenantryError } from '@tenantry/core'

/** What runs the SQL: pg-boss's `getDb()`. */
export interface BossDb {
  executeSql(text: string, values?: unknown[]): Promise<{ rows: any[] }>
}

/** A schema name as a quoted identifier; only plain names are accepted. */
export function quoteSchema(schema: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
    throw new TenantryError('VALIDATION_FAILED', `options.schema must be pg-boss's schema name (lower-case letters, digits, _), got ${JSON.stringify(schema)}`, {
      details: [{ path: 'options.schema', message: 'must be a plain lower-case identifier' }],
    })
  }
  return `"${schema}"`
}

/** The fairness tables and the cap's acquire function; idempotent, one process at a time. */
export function installFairnessSql(s: string): string {
  return `SELECT pg_advisory_xact_lock(hashtextextended('tenantry pg-boss fairness ' || '${s}', 0));
    CREATE TABLE IF NOT EXISTS ${s}.tenantry_pending (
      queue text NOT NULL, tenant_id text NOT NULL, pending integer NOT NULL,
      PRIMARY KEY (queue, tenant_id));
    CREATE TABLE IF NOT EXISTS ${s}.tenantry_running (
      queue text NOT NULL, tenant_id text NOT NULL, job_id uuid NOT NULL, expires_at timestamptz NOT NULL,
      PRIMARY KEY (queue, tenant_id, job_id));
    CREATE OR REPLACE FUNCTION ${s}.tenantry_acquire(q text, t text, j uuid, cap integer, lease_ms integer) RETURNS boolean
    LANGUAGE plpgsql AS $fn$
    BEGIN
      PERFORM pg_advisory_xact_lock(hashtextextended(q || ' ' || t, 0));
      DELETE FROM ${s}.tenantry_running WHERE queue = q AND tenant_id = t AND expires_at < clock_timestamp();
      IF EXISTS (SELECT 1 FROM ${s}.tenantry_running WHERE queue = q AND tenant_id = t AND job_id = j)
         OR (SELECT count(*) FROM ${s}.tenantry_running WHERE queue = q AND tenant_id = t) < cap THEN
        INSERT INTO ${s}.tenantry_running VALUES (q, t, j, clock_timestamp() + lease_ms * interval '1 millisecond')
          ON CONFLICT (queue, tenant_id, job_id) DO UPDATE SET expires_at = excluded.expires_at;
        RETURN true;
      END IF;
      RETURN false;
    END $fn$;`
}

/** Adds `$3` pending jobs to a tenant's count; returns the new count. */
export const admitSql = (s: string): string =>
  `INSERT INTO ${s}.tenantry_pending AS p VALUES ($1, $2, $3)
    ON CONFLICT (queue, tenant_id) DO UPDATE SET pending = p.pending + excluded.pending
    RETURNING pending`

/** Takes `$3` pending jobs off a tenant's count (never below 0). */
export const doneSql = (s: string): string =>
  `UPDATE ${s}.tenantry_pending SET pending = greatest(pending - $3, 0) WHERE queue = $1 AND tenant_id = $2`

/** The whose-job expression: the recorded tenant id, or `system`. */
const OWNER = `coalesce(data->'tenantry'->>'tenantId', 'system')`

/**
 * Sets a queue's counts to what its jobs say (created, retry or active jobs
 * sent with fairness, by tenant): counts drift when a job leaves the
 * queue without a worker seeing it end (expired into failed, deleted by
 * hand).
 */
export const reconcileSql = (s: string): string =>
  `WITH actual AS (
      SELECT ${OWNER} AS tenant_id, count(*)::integer AS n FROM ${s}.job
      WHERE name = $1 AND state IN ('created', 'retry', 'active') AND priority < 0 AND data ? 'tenantry'
      GROUP BY 1),
    gone AS (DELETE FROM ${s}.tenantry_pending WHERE queue = $1 AND tenant_id NOT IN (SELECT tenant_id FROM actual))
    INSERT INTO ${s}.tenantry_pending SELECT $1, tenant_id, n FROM actual
    ON CONFLICT (queue, tenant_id) DO UPDATE SET pending = excluded.pending`

export const acquireSql = (s: string): string => `SELECT ${s}.tenantry_acquire($1, $2, $3, $4, $5) AS ok`
export const renewSql = (s: string): string =>
  `UPDATE ${s}.tenantry_running SET expires_at = clock_timestamp() + $4 * interval '1 millisecond' WHERE queue = $1 AND tenant_id = $2 AND job_id = $3`
export const releaseSql = (s: string): string => `DELETE FROM ${s}.tenantry_running WHERE queue = $1 AND tenant_id = $2 AND job_id = $3`
export const pendingSql = (s: string): string => `SELECT tenant_id, pending FROM ${s}.tenantry_pending WHERE queue = $1 AND pending > 0`

/**
 * One tenant's jobs by queue and state (created and retry are queued,
 * active running, failed failed), over the queues named, or every queue.
 */
export const tenantCountsSql = (s: string): string =>
  `SELECT name, state::text AS state, count(*)::integer AS n FROM ${s}.job
    WHERE data->'tenantry'->>'tenantId' = $1 AND ($2::text[] IS NULL OR name = ANY($2::text[]))
      AND state IN ('created', 'retry', 'active', 'failed')
    GROUP BY name, state`
