export {
  JobTenancy,
  isJobEnvelope,
  type JobContext,
  type JobDisposition,
  type JobEnvelope,
  type JobRun,
  type JobScopeRecord,
  type JobTenancyOptions,
  type JobTenantSource,
} from './job-tenancy.ts'
