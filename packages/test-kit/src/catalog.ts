import { randomBytes } from 'node:crypto'
import { TenantCatalog } from '@tenantry/postgres'
import type { TestBackend, TestDatabase } from './backends.ts'

/** A slug unique to this run, so suites can share a database. */
export const slugFor = (base: string): string => `${base}-${randomBytes(4).toString('hex')}`

/** A fresh database on `backend` with the catalog installed. */
export async function openCatalog(backend: TestBackend): Promise<{ db: TestDatabase; catalog: TenantCatalog }> {
  const db = await backend.createDatabase()
  const catalog = new TenantCatalog({ target: db })
  await catalog.install()
  return { db, catalog }
}
