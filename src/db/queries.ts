// The named queries in sql/queries/: one source of truth for the tool's writes, `cars explain`
// and `cars search`. Each file starts with "-- name:", "-- budget_ms:" and "-- index:" lines.
import fs from 'node:fs';
import path from 'node:path';
import { SQL_DIR } from './migrate.js';

export interface NamedQuery {
  name: string;
  budgetMs: number;
  index: string;
  text: string;
}

const cache = new Map<string, NamedQuery>();

export function namedQuery(name: string): NamedQuery {
  const hit = cache.get(name);
  if (hit) return hit;
  const text = fs.readFileSync(path.join(SQL_DIR, 'queries', `${name}.sql`), 'utf8');
  const meta = (key: string) => new RegExp(`^-- ${key}: *(.+)$`, 'm').exec(text)?.[1].trim() ?? '';
  const q = { name: meta('name') || name, budgetMs: Number(meta('budget_ms') || 50), index: meta('index'), text };
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
