// `cars explain --sql` can only read: through the real binary, the server itself refuses what a
// read-only transaction lets through, because the query runs as the role cars_explain_reader;
// where that role cannot be had the query is planned, not run; a connection that dies under the
// query (killed by the query itself or from outside) ends in exit 5 with one clear line.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import postgres from 'postgres';
import { cars, type Result } from '../support/cli.js';
import { connect, freshDatabase, servers, withDatabase, type Server } from '../support/db.js';

const VINS = ['1HGCM82633A004352', '1HGCM82633A004353', '1HGCM82633A004354'];

/** Whether the server has contrib's dblink to install (asked once per server, before the tests are named). */
const dblink: Record<string, boolean> = Object.fromEntries(
  await Promise.all(
    servers().map(async (s) => {
      const sql = postgres(s.admin, { max: 1, onnotice: () => {} });
      try {
        return [s.name, (await sql`select 1 from pg_available_extensions where name = 'dblink'`).length > 0] as const;
      } finally {
        await sql.end({ timeout: 5 });
      }
    }),
  ),
);

function noStack(r: Result) {
  expect(r.stderr).not.toMatch(/TypeError|\n\s+at |node:internal|unexpected failure/);
}

/** The JSON summary on stdout. */
function summary(r: Result) {
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '');
}

async function carCount(url: string): Promise<number> {
  const sql = connect(url);
  try {
    return (await sql`select count(*)::int as n from cars`)[0].n;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

describe.each(servers())('cars explain --sql as the read-only role on $name', (server: Server) => {
  let db: { url: string; drop: () => Promise<void> };
  const env = () => ({ DATABASE_URL: db.url });

  beforeAll(async () => {
    db = await freshDatabase(server);
    const migrated = await cars(['db', 'migrate', '--quiet'], { env: env() });
    if (migrated.code !== 0) throw new Error(`cars db migrate failed: ${migrated.stderr}`);
    const sql = connect(db.url);
    try {
      for (const vin of VINS) await sql`insert into cars (vin, brand, model, year, price) values (${vin}, 'Honda', 'Accord', 2003, 5000)`;
    } finally {
      await sql.end({ timeout: 5 });
    }
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('the migration made a NOLOGIN, non-superuser role that only reads, and --sql runs as it', async () => {
    const sql = connect(db.url);
    try {
      const [role] = await sql`select rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls from pg_roles where rolname = 'cars_explain_reader'`;
      expect(role).toEqual({ rolcanlogin: false, rolsuper: false, rolcreaterole: false, rolcreatedb: false, rolbypassrls: false });
    } finally {
      await sql.end({ timeout: 5 });
    }
    const r = await cars(['explain', '--json', '--sql', "select * from cars where vin = '1HGCM82633A004352' and current_user = 'cars_explain_reader'"], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    const s = summary(r);
    expect(s).toMatchObject({ analyzed: true, sql_role: 'cars_explain_reader' });
    // The filter on current_user held: the role really was in effect while the query ran.
    expect(JSON.stringify(s.queries[0].plan)).toMatch(/"Actual Rows":1\b/);
    expect(s.notes.join('\n')).toMatch(/--sql runs as the role cars_explain_reader: it can read, and nothing else/);
  });

  it('pg_terminate_backend of another session is refused by the server, and that session lives on', async () => {
    const other = postgres(server.admin, { max: 1, onnotice: () => {} });
    try {
      const [{ pid }] = await other`select pg_backend_pid() as pid`;
      const r = await cars(['explain', '--sql', `select pg_terminate_backend(${pid})`], { env: env() });
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/--sql: the query needs a right the role cars_explain_reader does not have, which can only read: .*\(SQLSTATE 42501\)/);
      noStack(r);
      expect((await other`select pg_backend_pid() as pid`)[0].pid).toBe(pid);
    } finally {
      await other.end({ timeout: 5 });
    }
  });

  it.each([
    ["select pg_read_file('/etc/passwd')", /permission denied for function pg_read_file/],
    ['select pg_reload_conf()', /permission denied for function pg_reload_conf/],
  ])('%s is refused by the server (exit 2, SQLSTATE 42501)', async (q, why) => {
    const r = await cars(['explain', '--sql', q], { env: env() });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(why);
    expect(r.stderr).toMatch(/SQLSTATE 42501/);
    expect(r.stdout).toBe('');
    noStack(r);
  });

  if (dblink[server.name]) {
    it('dblink_exec without a password is refused by the server; no car is deleted', async () => {
      const sql = connect(db.url);
      try {
        await sql`create extension if not exists dblink`;
      } finally {
        await sql.end({ timeout: 5 });
      }
      const u = new URL(db.url);
      const conninfo = `dbname=${u.pathname.slice(1)} host=${u.hostname} port=${u.port || 5432} user=${decodeURIComponent(u.username)}`;
      const r = await cars(['explain', '--sql', `select dblink_exec('${conninfo}', 'delete from cars')`], { env: env() });
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/--sql: the query was refused by the server: password .*required/i);
      noStack(r);
      expect(await carCount(db.url)).toBe(VINS.length);
    });
  } else {
    // Not a skip: this asserts the reason dblink_exec is not tried here, and fails once contrib appears.
    it('dblink is not installed on this server (no contrib): dblink_exec is not asserted here', async () => {
      const sql = connect(db.url);
      try {
        expect(await sql`select 1 from pg_available_extensions where name = 'dblink'`).toHaveLength(0);
      } finally {
        await sql.end({ timeout: 5 });
      }
    });
  }

  it('a query that would leave the role (set_config, SQL run from text) is refused before it is sent', async () => {
    const r = await cars(['explain', '--sql', "select set_config('role', 'postgres', true), query_to_xml('select pg_read_file(''/etc/passwd'')', true, false, '')"], { env: env() });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--sql: the query calls set_config\(\), which could change the role or run other SQL/);
  });

  it('a connection killed under the query ends in exit 5 with one clear line, no stack', async () => {
    const tag = `cars_kill_${randomBytes(4).toString('hex')}`;
    const admin = postgres(server.admin, { max: 1, onnotice: () => {} });
    try {
      const run = cars(['explain', '--sql', `select pg_sleep(30) as ${tag}`], { env: env() });
      let killed = 0;
      for (let i = 0; i < 200 && !killed; i++) {
        await new Promise((r) => setTimeout(r, 50));
        killed = (await admin`select pg_terminate_backend(pid) from pg_stat_activity where query like ${'%pg_sleep(30) as ' + tag + '%'} and pid <> pg_backend_pid()`).length;
      }
      expect(killed).toBe(1);
      const r = await run;
      expect(r.code, r.stderr).toBe(5);
      // (The client hears the server's 57P01, or, when the socket goes first, ECONNRESET.)
      expect(r.stderr).toMatch(/cars: error: .*the connection was lost while explaining --sql \((the server closed it|ECONNRESET)/);
      noStack(r);
    } finally {
      await admin.end({ timeout: 5 });
    }
  });
});

describe.each(servers())('cars explain --sql where the role cannot be had ($name)', (server: Server) => {
  // A user that may not create roles, owning its own database: the migration leaves the role to a
  // DBA, and this user is not a member of it.
  const user = `cars_t_plain_${randomBytes(4).toString('hex')}`;
  let url = '';
  beforeAll(async () => {
    const admin = postgres(server.admin, { max: 1, onnotice: () => {} });
    try {
      await admin.unsafe(`create role ${user} login password 'plain-secret' nosuperuser nocreaterole`);
      await admin.unsafe(`create database ${user} owner ${user}`);
    } finally {
      await admin.end({ timeout: 5 });
    }
    const u = new URL(withDatabase(server.admin, user));
    u.username = user;
    u.password = 'plain-secret';
    url = u.toString();
    const migrated = await cars(['db', 'migrate', '--quiet'], { env: { DATABASE_URL: url } });
    if (migrated.code !== 0) throw new Error(`cars db migrate as ${user} failed: ${migrated.stderr}`);
  });
  afterAll(async () => {
    const admin = postgres(server.admin, { max: 1, onnotice: () => {} });
    try {
      await admin.unsafe(`drop database if exists ${user} with (force)`);
      await admin.unsafe(`drop role if exists ${user}`);
    } finally {
      await admin.end({ timeout: 5 });
    }
  });

  it('plans without running (no ANALYZE) and says why', async () => {
    const r = await cars(['explain', '--json', '--sql', 'select pg_terminate_backend(pg_backend_pid())'], { env: { DATABASE_URL: url } });
    expect(r.code, r.stderr).toBe(0);
    const s = summary(r);
    expect(s).toMatchObject({ analyzed: false, sql_role: null });
    expect(s.queries[0]).toMatchObject({ analyzed: false, time_ms: null });
    expect(s.notes.join('\n')).toMatch(new RegExp(`--sql was planned, not run \\(no ANALYZE\\): the user ${user} may not SET ROLE cars_explain_reader .*--analyze-anyway`));
    expect(r.stdout).not.toContain('plain-secret');
  });

  it('--analyze-anyway runs it as the user: a query that ends its own connection gives exit 5, no stack', async () => {
    const r = await cars(['explain', '--analyze-anyway', '--sql', 'select pg_terminate_backend(pg_backend_pid())'], { env: { DATABASE_URL: url } });
    expect(r.code, r.stderr).toBe(5);
    expect(r.stderr).toMatch(/cars: error: .*the connection was lost while explaining --sql \(the server closed it: the query, or someone else, may have ended the session\); nothing was changed/);
    expect(r.stderr).not.toContain('plain-secret');
    noStack(r);
  });

  it('--analyze-anyway runs a read with ANALYZE and the report says it was not confined', async () => {
    const r = await cars(['explain', '--analyze-anyway', '--sql', 'select count(*) from cars'], { env: { DATABASE_URL: url } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/EXPLAIN \(ANALYZE, BUFFERS\), rolled back/);
    expect(r.stdout).toMatch(/note: --sql ran with ANALYZE as the connecting user \(--analyze-anyway\), guarded only by the read-only transaction/);
  });
});
