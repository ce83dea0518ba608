import pg from 'pg'

/** How PostgreSQL writes a policy's USING and WITH CHECK back (`pg_get_expr`). */
export interface PolicyText {
  readonly using: string
  readonly check: string
}

/**
 * The exact text PostgreSQL gives back for a policy with these expressions, on a
 * table with `column uuid`: doctor compares each tenant table's policy with it
 * character for character, so `… or true` or any other change is caught. Found
 * by creating the policy on a temporary table in a transaction that is rolled
 * back (the server's own deparser, whatever its version). Undefined when the
 * connecting role may not create a temporary table.
 *
 * @example
 * const expected = await probePolicyText(pool, 'tenant_id', using, check)
 */
export async function probePolicyText(pool: pg.Pool, column: string, using: string, check: string): Promise<PolicyText | undefined> {
  const client = await pool.connect()
  try {
    await client.query('begin')
    try {
      await client.query(`create temporary table tenantry_doctor_probe (${pg.escapeIdentifier(column)} uuid) on commit drop`)
      await client.query(`create policy tenantry_doctor_probe on pg_temp.tenantry_doctor_probe as permissive for all to public using (${using}) with check (${check})`)
      const row = (await client.query<{ using: string; check: string }>(
        `select pg_get_expr(polqual, polrelid) as using, pg_get_expr(polwithcheck, polrelid) as check
           from pg_policy where polrelid = 'pg_temp.tenantry_doctor_probe'::regclass`,
      )).rows[0]
      return row
    } catch (error) {
      if ((error as { code?: string }).code === '42501') return undefined
      throw error
    } finally {
      await client.query('rollback').catch(() => undefined)
    }
  } finally {
    client.release()
  }
}
