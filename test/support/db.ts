// Each test makes its own database on one of the servers, so tests never share data.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, inject } from 'vitest';
import postgres from 'postgres';

export interface Server {
  name: string;
  admin: string;
}

/** The servers to run database tests against: embedded 18, and 15 when it answered. */
export function servers(): Server[] {
  const out: Server[] = [{ name: 'pg18', admin: inject('pg18') }];
  const pg15 = inject('pg15');
  if (pg15) out.push({ name: 'pg15', admin: pg15 });
  return out;
}

export function withDatabase(admin: string, name: string): string {
  const u = new URL(admin);
  u.pathname = '/' + name;
  return u.toString();
}

/** Creates an empty database; returns its URL and a function that drops it. */
export async function freshDatabase(server: Server): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `cars_t_${randomBytes(5).toString('hex')}`;
  const admin = postgres(server.admin, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database ${name}`);
  } finally {
    await admin.end({ timeout: 5 });
  }
  return {
    url: withDatabase(server.admin, name),
    drop: async () => {
      const a = postgres(server.admin, { max: 1, onnotice: () => {} });
      try {
        await a.unsafe(`drop database if exists ${name} with (force)`);
      } finally {
        await a.end({ timeout: 5 });
      }
    },
  };
}

export function connect(url: string) {
  return postgres(url, { max: 4, onnotice: () => {}, types: { bigint: postgres.BigInt } });
}

/**
 * A fresh database on `server` for the calling describe block: made before its tests, dropped
 * after them; `db.url` for the cars under test, `db.sql` a connection for checking what they did.
 */
export function useFreshDatabase(server: Server): { url: string; sql: ReturnType<typeof connect> } {
  const db = {} as { url: string; sql: ReturnType<typeof connect> };
  let drop: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    const fresh = await freshDatabase(server);
    drop = fresh.drop;
    db.url = fresh.url;
    db.sql = connect(fresh.url);
  });
  afterAll(async () => {
    await db.sql?.end({ timeout: 5 });
    await drop?.();
  });
  return db;
}

/** A fresh database on `server` (the first one by default), dropped by the test file's `cleanups`; its URL. */
export async function databaseUrl(cleanups: Array<() => Promise<void> | void>, server: Server = servers()[0]!): Promise<string> {
  const db = await freshDatabase(server);
  cleanups.push(db.drop);
  return db.url;
}

/**
 * Waits until `count` (a query's count) is above 0, asking every 50 ms, for at most `ms`; throws
 * then, so that a state the run never reached fails here rather than as a puzzle further on.
 */
export async function untilCounted(count: () => Promise<Array<{ n: number }>>, ms = 10_000): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) {
    const [r] = await count();
    if (r.n > 0) return;
  }
  throw new Error(`untilCounted: the count stayed 0 for ${ms} ms`);
}
