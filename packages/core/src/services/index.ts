export {
  TENANT_ASSERTION_HEADER,
  TenantAssertionSigner,
  serviceTenancy,
  type ServiceTenancyOptions,
  type TenantAssertionSignerOptions,
} from './tenant-assertions.ts'
