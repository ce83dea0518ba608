import {
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  type QueryCompiler,
} from 'kysely'
import { StampingQueryCompiler } from '@tenantry/kysely'
import { TenantDriver, type TenantDriverOptions } from './tenant-driver.ts'

/**
 * The Kysely dialect behind every Tenantry-scoped Kysely instance: PostgreSQL SQL,
 * and a driver that sends each query with its scope settings in one round trip.
 */
export class TenantDialect implements Dialect {
  readonly #options: TenantDriverOptions

  constructor(options: TenantDriverOptions) {
    this.#options = options
  }

  createDriver(): Driver {
    return new TenantDriver(this.#options)
  }

  /** PostgreSQL's compiler, recording each compiled query the tenant plugin stamped, so the driver runs exactly what it produced. */
  createQueryCompiler(): QueryCompiler {
    return new StampingQueryCompiler(new PostgresQueryCompiler())
  }

  createAdapter(): DialectAdapter {
    return new PostgresAdapter()
  }

  createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return new PostgresIntrospector(db)
  }
}
