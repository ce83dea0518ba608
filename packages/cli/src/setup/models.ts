import {
  DatabasePerTenantIsolation, SchemaPerTenantIsolation, SharedSchemaIsolation, type TenantDataModels,
} from '@tenantry/postgres'
import type { TenantryConfig } from './config.ts'
import type { Storage } from './storage.ts'

/** The models a config names, built on its storage. */
export interface BuiltModels extends TenantDataModels {
  readonly shared?: SharedSchemaIsolation
  readonly schema?: SchemaPerTenantIsolation
  readonly database?: DatabasePerTenantIsolation
}

/**
 * Builds the isolation models `config.models` names, each with the config's
 * runtime role (logging in through `database.url` when `directUrl` holds the
 * owner's target); nothing is installed yet.
 */
export function buildModels(config: TenantryConfig, storage: Storage): BuiltModels {
  const runtimeRole = config.runtimeRole ?? 'tenantry_app'
  const { shared, schema, database } = config.models
  // With a directUrl the target is the owner's direct pool: tenant transactions log in through the pooler's url.
  const runtimeLogin = storage.runtimeConnection === undefined ? {} : { runtimeLogin: { connection: storage.runtimeConnection } }
  const models: { shared?: SharedSchemaIsolation; schema?: SchemaPerTenantIsolation; database?: DatabasePerTenantIsolation } = {}
  if (shared !== undefined) models.shared = new SharedSchemaIsolation(storage.target, { ...shared, runtimeRole, ...runtimeLogin })
  if (schema !== undefined) models.schema = new SchemaPerTenantIsolation(storage.target, { ...(schema === true ? {} : schema), runtimeRole, ...runtimeLogin })
  if (database !== undefined && storage.router !== undefined && storage.provisioner !== undefined) {
    const { servers: _servers, budget: _budget, maxPerDatabase: _max, idleTimeoutMs: _idle, ...options } = database === true ? {} : database
    models.database = new DatabasePerTenantIsolation({ ...options, router: storage.router, provisioner: storage.provisioner, runtimeRole })
  }
  return models
}

/** Closes the pools the models opened (not the storage's). */
export async function closeModels(models: BuiltModels): Promise<void> {
  await Promise.allSettled([models.shared?.close(), models.schema?.close(), models.database?.close()])
}
