// Opening the database for a command: which server, the pool, pending migrations.
import { EmbeddedServer, type Embedded } from './embedded.js';
import { migrate } from './migrate.js';
import { createPool, databaseError, type PoolOptions, type Sql } from './pool.js';
import { urlTarget, type Target } from './target.js';
import type { Logger } from '../logger.js';

export interface DatabaseConfig {
  /** From --database-url or DATABASE_URL; undefined means the embedded server. */
  url: string | undefined;
  urlSource: string;
  home: string;
  pool: PoolOptions;
}

export interface Database {
  sql: Sql;
  target: Target;
  embedded: Embedded | undefined;
  migrationsApplied: string[];
  /** A fresh pool on the same target (after a connection was killed). */
  reconnect(): Promise<void>;
  /** Another pool on the same target and options, with at most `max` connections starting with `settings`; the caller ends it. */
  extraPool(max: number, settings: Record<string, string>): Sql;
  close(): Promise<void>;
}

export async function resolveTarget(config: DatabaseConfig, log: Logger): Promise<{ target: Target; server?: EmbeddedServer }> {
  if (config.url) return { target: urlTarget(config.url, config.urlSource) };
  const server = await EmbeddedServer.open(config.home, log);
  return { target: server.target(), server };
}

export async function openDatabase(config: DatabaseConfig, log: Logger, options: { migrate?: boolean } = {}): Promise<Database> {
  const { target, server } = await resolveTarget(config, log);
  const embedded = server ? await server.acquire() : undefined;
  let sql = createPool(target, config.pool);
  const db: Database = {
    get sql() {
      return sql;
    },
    target,
    embedded,
    migrationsApplied: [],
    async reconnect() {
      await sql.end({ timeout: 1 }).catch(() => undefined);
      sql = createPool(target, config.pool);
    },
    extraPool(max, settings) {
      return createPool(target, { ...config.pool, max }, settings);
    },
    async close() {
      await sql.end({ timeout: 5 }).catch(() => undefined);
      await embedded?.release();
    },
  };
  try {
    // (postgres.js reads the array types on every new connection, from a promise nobody handles;
    // a connection killed during that query is caught by the cli's unhandledRejection handler.
    // fetch_types must stay on: in 3.4.9 a connection opened for reserve() without it never
    // serves the reserve, so every batch transaction waited for the one connection already open.)
    await sql`select 1`;
    if (options.migrate !== false) db.migrationsApplied = await migrate(sql);
  } catch (e) {
    await db.close();
    throw databaseError(e, target);
  }
  return db;
}
