/**
 * @tenantry/saas: the reference SaaS (projects and tasks) behind `npm start`,
 * built on Tenantry. See docs/reference-saas.md.
 */
export { createSaas, type Saas, type SaasOptions } from './saas.ts'
export { loadConfig, resolveAdminToken, adminTokenFile, type AdminToken, type SaasConfig } from './config/index.ts'
export { openBackend, type BackendOptions, type SaasBackend } from './backend/index.ts'
export { buildSaasApp, createFastify, type SaasApp, type SaasAppOptions } from './http/app.ts'
export { createLogger, installRequestLogging, redactedPaths } from './http/logging.ts'
export { idParams, parseInput } from './http/validation.ts'
export { TenantAdministration, type NewTenant, type TenantPatch, type TenantChangeListener } from './tenants/administration.ts'
export { TenantPlacements, loadTenantMigrations, tenantMigrationsDir, type TenantPlacementsOptions } from './tenants/provision.ts'
export { demoTenants, seedDemoTenants } from './tenants/demo.ts'
export { Projects, projectOf, type Project, type PageQuery } from './data/projects.ts'
export { Tasks, type Task } from './data/tasks.ts'
export { encodeCursor, decodeCursor, type Cursor } from './data/cursor.ts'
export type { SaasDatabase, TaskStatus } from './data/schema.ts'
export { defaultAdmission, planLimits, type DefaultAdmission } from './fair-share.ts'
