-- migrate:up
alter table projects add column archived_at timestamptz;

-- migrate:down
alter table projects drop column archived_at;
