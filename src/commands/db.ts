// cars db migrate|status|start|stop
import { EmbeddedServer } from '../db/embedded.js';
import { appliedMigrations, listMigrations, migrate } from '../db/migrate.js';
import type { DatabaseConfig } from '../db/database.js';
import type { Logger } from '../logger.js';
import type { Deps } from '../runner.js';
import { CarsError } from '../errors.js';

export async function dbMigrate({ db, report }: Deps): Promise<void> {
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

export async function dbStatus({ db, report }: Deps): Promise<DbStatus> {
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
