export { assertHealthy, type DoctorFinding, type DoctorReport } from './report.ts'
export { detectTransactionPooler, transactionPoolerFinding } from './transaction-pooler.ts'
