// The role `cars explain --sql` runs the operator's query as (created by sql/006_explain_reader.sql):
// whether this connection may take it, and whether it can still only read.
import type { Sql } from '../db/pool.js';

export const READER_ROLE = 'cars_explain_reader';

/** Predefined roles the reader may be a member of; any other membership could give it more than reading. */
const READ_ONLY_MEMBERSHIPS = ['pg_read_all_data'];

export type ReaderRole = { role: string } | { role: null; why: string };

/** The reader role when this connection may SET ROLE to it and it can only read; else why not. */
export async function readerRole(sql: Sql): Promise<ReaderRole> {
  // pg_has_role() fails on a role that does not exist, hence the case; the SET privilege of a
  // membership exists from PostgreSQL 16 on (before, a member may always SET ROLE).
  const [r] = await sql`
    select current_user as me, r.rolsuper as super,
           case when r.oid is not null then pg_has_role(current_user, r.oid,
             case when current_setting('server_version_num')::int >= 160000 then 'SET' else 'MEMBER' end) end as may_set,
           (select coalesce(array_agg(o.rolname order by o.rolname), '{}') from pg_roles o
             where r.oid is not null and o.oid <> r.oid and pg_has_role(r.oid, o.oid, 'USAGE')
               and o.rolname <> all(${READ_ONLY_MEMBERSHIPS}::text[])) as more
    from (select 1) one left join pg_roles r on r.rolname = ${READER_ROLE}`;
  const me = r.me as string;
  if (r.may_set === null) {
    return { role: null, why: `the role ${READER_ROLE} does not exist on this server (cars db migrate creates it when the user is a superuser or has CREATEROLE)` };
  }
  if (!r.may_set) return { role: null, why: `the user ${me} may not SET ROLE ${READER_ROLE} (a superuser can allow it: GRANT ${READER_ROLE} TO ${me})` };
  const more = r.more as string[];
  if (r.super || more.length) {
    const what = r.super ? 'is a superuser' : `has the rights of ${more.join(', ')}`;
    return { role: null, why: `the role ${READER_ROLE} ${what}, so it could do more than read; a superuser should make it NOSUPERUSER and revoke that` };
  }
  return { role: READER_ROLE };
}
