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
