export {
  JobTenancy,
  isJobEnvelope,
  type JobContext,
  type JobDisposition,
  type JobEnvelope,
  type JobObserver,
  type JobOutcome,
  type JobRun,
  type JobScopeRecord,
  type JobTenancyOptions,
  type JobTenantSource,
} from './job-tenancy.ts'
export {
  SYSTEM_FAIRNESS_KEY,
  fairRanks,
  fairnessSettings,
  weightOf,
  type FairnessOptions,
  type FairnessSettings,
} from './fairness.ts'
export type { TenantJobCounts, TenantJobStats } from './counts.ts'
