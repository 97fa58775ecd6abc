// cars db migrate|status|start|stop
import { EmbeddedServer, socketUrl } from '../db/embedded.js';
import { redact as redactUrl } from '../db/target.js';
import { appliedMigrations, listMigrations, migrate } from '../db/migrate.js';
import { openDatabase, type DatabaseConfig } from '../db/database.js';
import { spawnSync } from 'node:child_process';
import type { Logger } from '../logger.js';
import type { Deps } from '../runner.js';
import { CarsError } from '../errors.js';

/** `cars db migrate`: opens the database without migrating it, so that this command reports what it applies. */
export async function dbMigrateCommand(config: DatabaseConfig, deps: Deps): Promise<void> {
  const conn = await deps.report.phase('connect', () => openDatabase(config, deps.log, { migrate: false }));
  try {
    await dbMigrate({ ...deps, db: conn });
  } finally {
    await conn.close();
  }
}

/** `cars db status`: the status of the database as it is, pending migrations included. */
export async function dbStatusCommand(config: DatabaseConfig, deps: Deps): Promise<DbStatus> {
  const conn = await openDatabase(config, deps.log, { migrate: false });
  try {
    return await dbStatus({ ...deps, db: conn });
  } finally {
    await conn.close();
  }
}

/** `cars db psql [args]`: psql on the (migrated) database; returns psql's exit code. */
export async function dbPsql(config: DatabaseConfig, log: Logger, args: string[]): Promise<number> {
  const conn = await openDatabase(config, log); // (migrated, as for every command)
  try {
    // A password goes to psql in PGPASSWORD, not on its command line (where `ps` shows it).
    let url = config.url ?? (await dbUrl(config, log));
    const extra: Record<string, string> = {};
    if (config.url) {
      const u = new URL(config.url);
      if (u.password) extra.PGPASSWORD = decodeURIComponent(u.password);
      u.password = '';
      url = u.toString();
    }
    const r = spawnSync('psql', [url, ...args], { stdio: 'inherit', env: { ...process.env, ...extra } });
    if (r.error) throw new CarsError('USAGE', `cannot run psql (${(r.error as NodeJS.ErrnoException).code}); install the PostgreSQL client (Debian: apt-get install postgresql-client)`);
    return r.status ?? 1;
  } finally {
    await conn.close();
  }
}

async function dbMigrate({ db, report }: Deps): Promise<void> {
  // openDatabase was told not to migrate, so that this command reports what it applied.
  const applied = await report.phase('migrate', () => migrate(db.sql));
  report.rows.applied = applied.length;
  report.extra.applied = applied;
  report.extra.target = db.target.display;
}

export interface DbStatus {
  target: string;
  server_version: string;
  data_directory: string | null;
  embedded: boolean;
  applied_migrations: string[];
  pending_migrations: string[];
  row_counts: Record<string, number>;
}

async function dbStatus({ db, report }: Deps): Promise<DbStatus> {
  const sql = db.sql;
  const [{ server_version }] = await sql`select current_setting('server_version') as server_version`;
  let dataDir: string | null = db.embedded?.layout.dataDir ?? null;
  if (!dataDir) {
    // Only superusers and pg_read_all_settings members may read it.
    dataDir = await sql`select current_setting('data_directory') as d`.then((r) => r[0].d as string).catch(() => null);
  }
  const applied = await appliedMigrations(sql);
  const appliedNames = new Set(applied.map((m) => m.name));
  const pending = (await listMigrations()).filter((m) => !appliedNames.has(m.name)).map((m) => m.name);
  const counts: Record<string, number> = {};
  for (const table of ['cars', 'car_price_history', 'runs']) {
    const [exists] = await sql`select to_regclass(${table}) as t`;
    if (exists.t) counts[table] = (await sql`select count(*)::bigint as n from ${sql(table)}`)[0].n as number;
  }
  const status: DbStatus = {
    target: db.target.display,
    server_version,
    data_directory: dataDir,
    embedded: !!db.embedded,
    applied_migrations: applied.map((m) => m.name),
    pending_migrations: pending,
    row_counts: counts,
  };
  Object.assign(report.extra, status);
  return status;
}

export function formatStatus(s: DbStatus): string {
  const lines = [
    `target:          ${s.target}`,
    `server:          PostgreSQL ${s.server_version}${s.embedded ? ' (embedded)' : ''}`,
    `data directory:  ${s.data_directory ?? '(not visible to this user)'}`,
    `migrations:      ${s.applied_migrations.length} applied${s.pending_migrations.length ? `, ${s.pending_migrations.length} pending (${s.pending_migrations.join(', ')})` : ', none pending'}`,
    ...s.applied_migrations.map((m) => `                 ${m}`),
    `rows:`,
    ...Object.entries(s.row_counts).map(([t, n]) => `  ${t.padEnd(18)} ${n.toLocaleString('en-US').padStart(12)}`),
  ];
  return lines.join('\n');
}

/** `cars db start` / `cars db stop` only make sense for the embedded server. */
export async function dbStartStop(action: 'start' | 'stop', config: DatabaseConfig, log: Logger): Promise<string> {
  if (config.url) {
    throw new CarsError('USAGE', `cars db ${action} manages the embedded server only, and ${config.urlSource} is set; start or stop that server with its own tools`);
  }
  const server = await EmbeddedServer.open(config.home, log);
  if (action === 'start') {
    const { alreadyRunning } = await server.startPersistent();
    return `${alreadyRunning ? 'already running' : 'started'}: ${server.target().display}, data directory ${server.layout.dataDir}; it stays up until \`cars db stop\``;
  }
  const { wasRunning } = await server.stopPersistent();
  return wasRunning ? `stopped the embedded PostgreSQL in ${server.layout.dataDir}` : `not running (data directory ${server.layout.dataDir})`;
}

export interface DbPaths {
  cars_home: string;
  data_directory: string;
  socket_directory: string;
  binaries: string;
  /** True when CARS_HOME cannot be reached by the postgres user, so the data lives under /var/lib/cars. */
  fallback: boolean;
  /** DATABASE_URL (shown without its password) when set: then commands use that server, not these. */
  database_url: string | null;
}

/** `cars db path`: where the embedded server keeps its data and binaries. */
export async function dbPath(config: DatabaseConfig, log: Logger): Promise<DbPaths> {
  const server = await EmbeddedServer.open(config.home, log);
  const { layout } = server;
  return {
    cars_home: layout.home,
    data_directory: layout.dataDir,
    socket_directory: layout.socketDir,
    binaries: await server.binDir(),
    fallback: layout.fallback,
    database_url: config.url ? redactUrl(config.url) : null,
  };
}

export function formatPaths(p: DbPaths): string {
  return [
    `cars home:       ${p.cars_home}`,
    `data directory:  ${p.data_directory}${p.fallback ? ' (CARS_HOME is out of reach of the postgres user)' : ''}`,
    `socket:          ${p.socket_directory}`,
    `binaries:        ${p.binaries}`,
    ...(p.database_url ? [`note: DATABASE_URL is set (${p.database_url}): commands use that server, not the embedded one`] : []),
  ].join('\n');
}

/** `cars db url`: a connection string that works (the embedded server's socket), or DATABASE_URL without its password. */
export async function dbUrl(config: DatabaseConfig, log: Logger): Promise<string> {
  if (config.url) return redactUrl(config.url);
  const server = await EmbeddedServer.open(config.home, log);
  return socketUrl(server.layout.socketDir);
}

/** `cars db destroy`: stop the embedded server and remove its data and binaries. */
export async function dbDestroy(config: DatabaseConfig, log: Logger): Promise<{ removed: string[] }> {
  if (config.url) {
    throw new CarsError('USAGE', `cars db destroy removes the embedded database only, and ${config.urlSource} is set; nothing of that server is touched`);
  }
  const server = await EmbeddedServer.open(config.home, log);
  return server.destroy();
}
