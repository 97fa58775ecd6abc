// Shared by the import tests: reading rejects files back, the JSON summary, the accounting rule.
import fs from 'node:fs';
import { expect } from 'vitest';
import { CsvSplitter } from '../../src/sources/csv-records.js';
import type { connect } from './db.js';

/** Reads a CSV file into objects keyed by its header. */
export function readCsv(file: string): Array<Record<string, string>> {
  const s = new CsvSplitter(',');
  const items = s.end(s.push(fs.readFileSync(file, 'utf8')));
  const [head, ...rest] = items.map((i) => (i.kind === 'record' ? i.fields : []));
  return rest.map((f) => Object.fromEntries(head.map((h, i) => [h, f[i]])));
}

/** The --json summary on stdout, or an error that shows what was printed instead. */
export function summary(r: { stdout: string; stderr: string }) {
  try {
    return JSON.parse(r.stdout);
  } catch {
    throw new Error(`no JSON summary on stdout:\n${r.stdout}\n--- stderr:\n${r.stderr}`);
  }
}

/** Rows in cars, or -1 before the migrations made the table. */
export async function carCount(sql: ReturnType<typeof connect>): Promise<number> {
  try {
    return (await sql`select count(*)::int as n from cars`)[0].n;
  } catch {
    return -1;
  }
}

export function expectBalanced(rows: Record<string, number>) {
  expect(rows.read).toBe(rows.inserted + rows.updated + rows.unchanged + rows.rejected + rows.superseded);
}
