-- migrate:up
create table announcements (
  id int generated always as identity primary key,
  body text not null,
  published_at timestamptz not null default now()
);

-- migrate:down
drop table announcements;
