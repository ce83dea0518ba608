export { assertHealthy, type DoctorFinding, type DoctorReport } from './report.ts'
export { doctorSharedSchema } from './shared-schema.ts'
