-- `cars explain --sql` runs the operator's query under SET LOCAL ROLE cars_explain_reader: a
-- NOLOGIN role that can read and nothing else, so the server itself refuses what a read-only
-- transaction lets through (dblink_exec without a password, pg_terminate_backend of other
-- sessions, pg_read_file, pg_reload_conf). Roles belong to the whole server, not to a database:
-- one role serves every cars database on it, and each database's migration grants it what it
-- needs there. Creating the role takes a superuser or CREATEROLE; a user with neither leaves
-- it to the DBA (the README says how) and this migration does nothing for it: cars explain --sql
-- then plans without running the query, and says why.
do $$
declare
  me record;
  reads_all boolean := false;
  t regclass;
  pg16 constant boolean := current_setting('server_version_num')::int >= 160000;
begin
  select rolsuper, rolcreaterole into me from pg_roles where rolname = current_user;

  if not exists (select from pg_roles where rolname = 'cars_explain_reader') then
    if not (me.rolsuper or me.rolcreaterole) then
      raise notice 'cars_explain_reader not created: % is neither superuser nor CREATEROLE', current_user;
      return;
    end if;
    begin
      create role cars_explain_reader nologin nosuperuser nocreatedb nocreaterole noreplication nobypassrls inherit;
    exception when duplicate_object or unique_violation then
      null; -- the migration of another database on this server created it at the same moment
    end;
  end if;

  -- The connecting user must be allowed to SET ROLE to it (a superuser always is). From 16 on a
  -- membership says whether it allows SET ROLE, and the one CREATE ROLE gives its creator does not;
  -- the user needs none of the role's rights by inheritance. (EXECUTE: older servers cannot parse it.)
  if not pg_has_role(current_user, 'cars_explain_reader', case when pg16 then 'SET' else 'MEMBER' end) then
    begin
      if pg16 then
        execute 'grant cars_explain_reader to current_user with inherit false, set true';
      else
        grant cars_explain_reader to current_user;
      end if;
    exception when insufficient_privilege or invalid_grant_operation then
      raise notice 'cars_explain_reader exists, but % may not grant it to itself', current_user;
    end;
  end if;

  -- Read rights: every table on PostgreSQL 14 and later, where the grant is allowed.
  if current_setting('server_version_num')::int >= 140000 then
    if not pg_has_role('cars_explain_reader', 'pg_read_all_data', 'MEMBER') then
      begin
        grant pg_read_all_data to cars_explain_reader;
      exception when insufficient_privilege or invalid_grant_operation then
        null; -- the SELECT grants below serve instead
      end;
    end if;
    reads_all := pg_has_role('cars_explain_reader', 'pg_read_all_data', 'MEMBER');
  end if;

  -- Before 14 (or where pg_read_all_data could not be granted): SELECT on the tool's tables in
  -- this database (those of its schema the user owns: migrations numbered after this one may have
  -- run before it), and on the tables later migrations create. Grants are per database, so every
  -- cars database on the server gets its own.
  if not reads_all then
    begin
      execute format('grant usage on schema %I to cars_explain_reader', current_schema());
    exception when insufficient_privilege then
      null; -- PUBLIC has USAGE on the public schema unless a DBA revoked it
    end;
    for t in select c.oid::regclass from pg_class c
             where c.relnamespace = current_schema()::regnamespace and c.relkind in ('r', 'p', 'v', 'm')
               and pg_get_userbyid(c.relowner) = current_user loop
      execute format('grant select on %s to cars_explain_reader', t);
    end loop;
    alter default privileges grant select on tables to cars_explain_reader;
  end if;
end
$$;
