create table accounts (
  id serial primary key,
  name text not null,
  api_key_hash text not null unique
);
create table projects (
  id serial primary key,
  account_id int not null references accounts (id),
  name text not null,
  created_at timestamptz not null default now(),
  unique (account_id, name)
);
create table tasks (
  id serial primary key,
  project_id int not null references projects (id) on delete cascade,
  title text not null,
  done boolean not null default false
);
create index on tasks (project_id);
