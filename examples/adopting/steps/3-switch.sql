-- The old app stopped, in one transaction: every row gets its tenant, then keys,
-- references and indexes take tenant_id in.
begin;
update projects p set tenant_id = a.tenant_id from accounts a where a.id = p.account_id and p.tenant_id is null;
update tasks t set tenant_id = p.tenant_id from projects p where p.id = t.project_id and t.tenant_id is null;
alter table projects alter column tenant_id set not null, alter column account_id drop not null;
alter table tasks alter column tenant_id set not null;

-- A key without tenant_id lets one tenant's insert collide with another's row.
alter table tasks drop constraint tasks_project_id_fkey;
alter table projects drop constraint projects_pkey, add primary key (tenant_id, id);
alter table projects drop constraint projects_account_id_name_key, add unique (tenant_id, name);
alter table tasks drop constraint tasks_pkey, add primary key (tenant_id, id);
-- A task can only point at a project of its own tenant.
alter table tasks add foreign key (tenant_id, project_id) references projects (tenant_id, id) on delete cascade;

-- Every index a tenant's queries use leads with tenant_id.
drop index tasks_project_id_idx;
create index on tasks (tenant_id, project_id);
commit;
