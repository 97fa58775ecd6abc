// The connection pool, and the translation of the driver's connection errors into ours.
import net from 'node:net';
import postgres from 'postgres';
import { CarsError } from '../errors.js';
import type { Target } from './target.js';

export interface PoolOptions {
  /** Most connections open at once. */
  max: number;
  /** Seconds before an idle connection is closed. */
  idleTimeout: number;
  /** Seconds before a connection is recycled. */
  maxLifetime: number;
  /** Seconds to wait for a connection. */
  connectTimeout: number;
  /** Milliseconds a statement may run. */
  statementTimeout: number;
}

export const POOL_DEFAULTS: PoolOptions = { max: 20, idleTimeout: 300, maxLifetime: 1800, connectTimeout: 10, statementTimeout: 60_000 };

export type Sql = postgres.Sql<Record<string, never>>;

/**
 * `settings` are server settings every connection of the pool starts with (sent in the startup
 * message, so they cost no statement): for a pool that runs one kind of statement, such as the
 * price writers' (see sync/writer.ts).
 */
export function createPool(target: Target, opts: PoolOptions, settings: Record<string, string> = {}): Sql {
  // `socket` is a documented option of postgres.js that its types leave out.
  const common: postgres.Options<Record<string, postgres.PostgresType>> & { socket: typeof tcpNoDelay } = {
    max: opts.max,
    idle_timeout: opts.idleTimeout,
    max_lifetime: opts.maxLifetime,
    connect_timeout: opts.connectTimeout,
    onnotice: () => {},
    connection: { application_name: 'cars', statement_timeout: opts.statementTimeout, ...settings },
    // numeric and bigint stay strings by default; counts are small, so parse int8 as a number.
    types: { bigint: { to: 20, from: [20], serialize: (x: unknown) => String(x), parse: (x: string) => Number(x) } },
    socket: tcpNoDelay,
  };
  if (target.socketDir) {
    const u = new URL(target.url);
    return postgres({ ...common, host: target.socketDir, port: Number(u.port || 5432), user: u.username, database: u.pathname.slice(1) }) as unknown as Sql;
  }
  return postgres(target.url, common) as unknown as Sql;
}

type SocketOptions = { host: string[]; port: number[]; path?: string | false };

/**
 * TCP sockets with Nagle's algorithm off, as libpq has them. postgres.js leaves it on, and sends a
 * statement longer than 1 KB in two writes (Parse, then Bind/Execute/Sync): the second waited for
 * the server's delayed ACK, 40 ms on Linux, on every such statement (the import merge ran in 23 ms
 * and took 65). The socket is returned still connecting: the driver writes its startup message
 * (or its TLS request) into the socket's buffer and hears 'error' and 'close' as from its own
 * socket; its connect_timeout still runs. Our URLs name one host (see urlTarget).
 */
function tcpNoDelay(o: SocketOptions): net.Socket {
  if (o.path) return net.connect({ path: o.path });
  return net.connect({ host: o.host[0], port: o.port[0] ?? 5432, noDelay: true });
}

// (The last three: a killed connection, as seen when a query is written to its socket after the kill.)
const UNAVAILABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOENT', 'CONNECT_TIMEOUT', 'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', '57P01', '57P02', '57P03', '08006', '08001', '08004', 'ECONNABORTED', 'ERR_STREAM_DESTROYED', 'ERR_SOCKET_CLOSED']);

/** Is this the connection going away (as opposed to the server refusing a statement)? */
export function isConnectionError(e: unknown): boolean {
  const code = (e as { code?: string })?.code;
  return !!code && UNAVAILABLE.has(code);
}

const NOT_REACHED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOENT', 'CONNECT_TIMEOUT']);

/** Is this a connection that was made and then lost (not a server that could not be reached)? */
export function isLostConnection(e: unknown): boolean {
  return isConnectionError(e) && !NOT_REACHED.has((e as { code: string }).code);
}

/** Turns a driver or socket error met while talking to `target` into a CarsError (exit 5). */
export function databaseError(e: unknown, target: Target): CarsError {
  if (e instanceof CarsError) return e;
  const err = e as { code?: string; message?: string; errors?: unknown[] };
  // Node reports "connect to localhost" failures as AggregateError with one error per address.
  const code = err?.code ?? (err?.errors?.[0] as { code?: string } | undefined)?.code;
  const where = target.display;
  const reason = (err?.message ?? String(e)).replace(/postgres(ql)?:\/\/[^\s]+/g, '<url>');
  switch (code) {
    case '28P01':
    case '28000':
      return new CarsError('DB_AUTH', `${where}: authentication failed (${reason}); check the user and password`, { cause: e });
    case '3D000':
      return new CarsError('DB_NOT_FOUND', `${where}: ${reason}; check the database name or create it`, { cause: e });
    case 'ECONNREFUSED':
      return new CarsError('DB_UNAVAILABLE', `${where}: connection refused; check that PostgreSQL runs there and the host and port are right`, { cause: e });
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new CarsError('DB_UNAVAILABLE', `${where}: unknown host; check the host name`, { cause: e });
    case 'CONNECT_TIMEOUT':
      return new CarsError('DB_UNAVAILABLE', `${where}: connection timed out; check the host, the port and any firewall`, { cause: e });
    default:
      if (code && UNAVAILABLE.has(code)) return new CarsError('DB_UNAVAILABLE', `${where}: connection lost (${code}: ${reason})`, { cause: e });
      if (e instanceof postgres.PostgresError) return new CarsError('DB_REFUSED', `${where}: ${reason} (SQLSTATE ${code})`, { cause: e });
      return new CarsError('DB_UNAVAILABLE', `${where}: ${reason}`, { cause: e });
  }
}
