-- While the old app runs: a nullable tenant_id on every tenant table, and on each
-- account the tenant it becomes.
alter table accounts add column tenant_id uuid unique;
alter table projects add column tenant_id uuid;
alter table tasks add column tenant_id uuid;
