-- Once the new app runs everywhere: what only the old app used
-- (its index and foreign key go with the column).
alter table projects drop column account_id;
