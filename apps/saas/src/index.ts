/**
 * @tenantry/saas: the reference SaaS (projects and tasks) behind `npm start`,
 * built on Tenantry. See docs/reference-saas.md.
 */
export { createSaas, type Saas, type SaasOptions } from './saas.ts'
export { loadConfig, resolveAdminToken, adminTokenFile, type AdminToken, type SaasConfig } from './config/index.ts'
export { saasPlans, saasTenantryConfig, tenantMigrationsDir, type SaasTenantryOptions } from './tenantry-config.ts'
export { buildSaasApp, createFastify, type SaasApp, type SaasAppOptions } from './http/app.ts'
export { apiKeyView, tenantView, type TenantView } from './http/admin-routes.ts'
export { createLogger, installRequestLogging, redactedPaths } from './http/logging.ts'
export { idParams, parseInput } from './http/validation.ts'
export { demoTenants, seedDemoTenants } from './tenants/demo.ts'
export { Projects, projectOf, type Project, type PageQuery } from './data/projects.ts'
export { Tasks, type Task } from './data/tasks.ts'
export { startSaasJobs, type Report, type ReportStatus, type SaasJobs, type SaasJobsOptions } from './jobs/reports.ts'
export { encodeCursor, decodeCursor, type Cursor } from './data/cursor.ts'
export type { SaasDatabase, TaskStatus } from './data/schema.ts'
export { metricsRoute, saasObservability, type SaasObservability } from './http/observability.ts'
