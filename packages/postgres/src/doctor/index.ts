export { assertHealthy, type DoctorFinding, type DoctorReport } from './report.ts'
export { doctorSharedSchema, type SharedDoctorSubject } from './shared-schema.ts'
export { doctorSchemaPerTenant, type SchemaDoctorSubject } from './schema-per-tenant.ts'
export { doctorDatabasePerTenant, type DatabaseDoctorSubject } from './database-per-tenant.ts'
