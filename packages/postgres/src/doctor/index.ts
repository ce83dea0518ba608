export { assertHealthy, type DoctorFinding, type DoctorReport } from './report.ts'
