// Where the database is, and how to name it without leaking a password.
import { CarsError } from '../errors.js';

export interface Target {
  kind: 'url' | 'embedded';
  /** Connection string handed to the driver (may hold a password: never print it). */
  url: string;
  /** Unix socket directory of the embedded server. */
  socketDir?: string;
  /** Safe to print: postgres://user@host:port/db */
  display: string;
}

/** `postgres://user@host:port/db`, with no password and no query string. */
export function redact(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return '<unparseable database URL>';
  }
  const user = u.username ? `${decodeURIComponent(u.username)}@` : '';
  const host = u.hostname || 'localhost';
  const port = u.port || '5432';
  const db = u.pathname.replace(/^\//, '') || decodeURIComponent(u.username) || 'postgres';
  return `${u.protocol}//${user}${host}:${port}/${db}`;
}

export function urlTarget(url: string, source: string): Target {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new CarsError('USAGE', `${source} is not a valid URL (expected postgres://user@host:port/db)`);
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') {
    throw new CarsError('USAGE', `${source} must start with postgres:// or postgresql://, got ${u.protocol}//`);
  }
  return { kind: 'url', url, display: redact(url) };
}
