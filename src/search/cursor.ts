// The opaque `--after` cursor of `cars search`: where the previous page ended, as base64url of
// JSON [created_at, id]. created_at is the exact instant in UTC with microseconds (PostgreSQL's
// precision; a JS Date keeps milliseconds only and would repeat or skip rows). Pure.
import { usage } from '../errors.js';

export interface Position {
  /** 2026-01-31T12:34:56.123456Z */
  createdAt: string;
  id: number;
}

const ISO_MICROS = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.\d{6}Z$/;

export function encodeCursor(p: Position): string {
  return Buffer.from(JSON.stringify([p.createdAt, p.id]), 'utf8').toString('base64url');
}

function validInstant(s: string): boolean {
  const m = ISO_MICROS.exec(s);
  if (!m) return false;
  const [y, mo, d, h, mi, se] = m.slice(1).map(Number);
  const t = new Date(Date.UTC(y, mo - 1, d, h, mi, se));
  return t.getUTCFullYear() === y && t.getUTCMonth() === mo - 1 && t.getUTCDate() === d && h < 24 && mi < 60 && se < 60;
}

/** Reads a cursor; anything that is not one `cars search` printed is a usage error naming --after. */
export function decodeCursor(cursor: string): Position {
  const bad = (why: string) => usage(`--after: "${cursor.length > 60 ? `${cursor.slice(0, 57)}...` : cursor}" is not a cursor from cars search (${why}); pass the "next" value of the previous page`);
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) throw bad('not base64url');
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw bad('not JSON inside');
  }
  if (!Array.isArray(value) || value.length !== 2) throw bad('not a [created_at, id] pair');
  const [createdAt, id] = value as unknown[];
  if (typeof createdAt !== 'string' || !validInstant(createdAt)) throw bad('created_at is not a UTC instant with microseconds');
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 1) throw bad('id is not a positive integer');
  return { createdAt, id };
}
