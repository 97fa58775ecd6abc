// The named queries in sql/queries/: one source of truth for the tool's writes, `cars explain`
// and `cars search`. Each file starts with "-- name:", "-- budget_ms:" and "-- index:" lines, and
// may have "-- settings: name=value ..." (server settings the statement must be planned with;
// whoever runs it applies them, and so does `cars explain`) and "-- staging: new" (a statement
// that reads cars_staging and expects only new cars in it: `cars explain` stages such a batch).
// "-- index: none" is a statement that reads no index of cars (an INSERT from cars_staging).
import fs from 'node:fs';
import path from 'node:path';
import { SQL_DIR } from './migrate.js';

export interface NamedQuery {
  name: string;
  budgetMs: number;
  index: string;
  /** Server settings to plan and run it with (its "-- settings:" line). */
  settings: Readonly<Record<string, string>>;
  /** What `cars explain` puts into cars_staging for it: a dealer's mix of listed and new cars, or only new ones. */
  staging: 'mixed' | 'new';
  text: string;
}

const cache = new Map<string, NamedQuery>();

export function namedQuery(name: string): NamedQuery {
  const hit = cache.get(name);
  if (hit) return hit;
  const text = fs.readFileSync(path.join(SQL_DIR, 'queries', `${name}.sql`), 'utf8');
  const meta = (key: string) => new RegExp(`^-- ${key}: *(.+)$`, 'm').exec(text)?.[1].trim() ?? '';
  const settings = Object.fromEntries(meta('settings').split(/\s+/).filter(Boolean).map((kv) => kv.split('=', 2)));
  const staging = meta('staging') === 'new' ? 'new' : 'mixed';
  const q: NamedQuery = { name: meta('name') || name, budgetMs: Number(meta('budget_ms') || 50), index: meta('index'), settings, staging, text };
  cache.set(name, q);
  return q;
}

export function allNamedQueries(): NamedQuery[] {
  return fs
    .readdirSync(path.join(SQL_DIR, 'queries'))
    .filter((f) => f.endsWith('.sql'))
    .sort()
    .map((f) => namedQuery(f.replace(/\.sql$/, '')));
}

/** One statement that applies `settings` to the current transaction only (set_config(..., true)). */
export function settingsStatement(settings: Readonly<Record<string, string>>): string | null {
  const keys = Object.keys(settings);
  if (!keys.length) return null;
  const lit = (v: string) => `'${v.replace(/'/g, "''")}'`;
  return `select ${keys.map((k) => `set_config(${lit(k)}, ${lit(settings[k])}, true)`).join(', ')}`;
}
