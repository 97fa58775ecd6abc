// PASS or FAIL for one explained query: within its budget, no sequential scan of a big table, and
// the index it was written for. Pure.
import { BIG_TABLES, type PlanFacts } from './plan.js';

export interface Expectation {
  /** Milliseconds (planning plus execution); null: no budget (`--sql`). */
  budgetMs: number | null;
  /** The indexes the query is meant to use (its `-- index:` line); all must appear. */
  indexes: string[];
}

export interface Verdict {
  pass: boolean;
  /** What the plan reads: "uses index cars_vin_key", "seq scan", "no index". */
  uses: string;
  /** Why it failed; empty when it passed. */
  reasons: string[];
}

/** The `-- index:` line: one index name, or several separated by commas; "none" for none. */
export function declaredIndexes(line: string): string[] {
  if (line.trim() === 'none') return [];
  return line
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

export function judge(facts: PlanFacts, expect: Expectation, bigTables: readonly string[] = BIG_TABLES): Verdict {
  const reasons: string[] = [];
  const scanned = facts.seqScans.filter((t) => bigTables.includes(t));
  if (facts.totalMs !== null && expect.budgetMs !== null && facts.totalMs > expect.budgetMs) {
    reasons.push(`over budget: ${ms(facts.totalMs)} > ${ms(expect.budgetMs)}`);
  }
  for (const t of new Set(scanned)) reasons.push(`sequential scan of ${t}`);
  const missing = expect.indexes.filter((i) => !facts.indexes.includes(i));
  if (missing.length) {
    reasons.push(`does not use ${missing.join(', ')} (${facts.indexes.length ? `uses ${facts.indexes.join(', ')}` : 'uses no index'})`);
  }
  let uses: string;
  if (scanned.length) uses = 'seq scan';
  else if (expect.indexes.length && !missing.length) uses = `uses index ${expect.indexes.join(', ')}`;
  else if (facts.indexes.length) uses = `uses index ${facts.indexes.join(', ')}`;
  else uses = 'no index';
  return { pass: reasons.length === 0, uses, reasons };
}

/** A query that could not be explained at all fails with the error as its reason. */
export function failed(error: string): Verdict {
  return { pass: false, uses: 'not explained', reasons: [error] };
}

/** 12.3 ms; small times keep two decimals so 0.04 ms does not read as 0.0 ms. */
export function ms(v: number): string {
  return `${v >= 0.095 ? v.toFixed(1) : v.toFixed(2)} ms`;
}
