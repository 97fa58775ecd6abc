-- Which version of cars made each run (an operator reading the history after an upgrade wants it).
alter table runs add column if not exists version text;
