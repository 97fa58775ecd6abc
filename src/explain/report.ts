// One explained query as data (the `--json` summary's `queries`) and as text (stdout). Pure.
import { planFacts, type PlanWarning } from './plan.js';
import { renderPlan, verdictLine } from './render.js';
import { failed, judge, type Verdict } from './verdict.js';
import { showParam } from './params.js';
import type { ExplainRun, ExplainTarget } from './run.js';

export interface QueryReport {
  name: string;
  budget_ms: number | null;
  index: string[];
  params: string[];
  params_from: ExplainRun['paramsFrom'] | null;
  staged_rows: number | null;
  analyzed: boolean;
  time_ms: number | null;
  planning_ms: number | null;
  execution_ms: number | null;
  indexes_used: string[];
  seq_scans: string[];
  warnings: PlanWarning[];
  verdict: 'PASS' | 'FAIL';
  uses: string;
  reasons: string[];
  /** EXPLAIN (FORMAT JSON) as the server sent it; null when the query could not be explained. */
  plan: unknown;
  /** The tree as printed. */
  text: string[];
}

const round3 = (v: number | null) => (v === null ? null : Math.round(v * 1000) / 1000);

export function queryReport(t: ExplainTarget, run: ExplainRun | { error: string }): QueryReport {
  const base = { name: t.name, budget_ms: t.budgetMs, index: t.indexes };
  if ('error' in run) {
    const v: Verdict = failed(run.error);
    return {
      ...base,
      params: [],
      params_from: null,
      staged_rows: null,
      analyzed: false,
      time_ms: null,
      planning_ms: null,
      execution_ms: null,
      indexes_used: [],
      seq_scans: [],
      warnings: [],
      verdict: 'FAIL',
      uses: v.uses,
      reasons: v.reasons,
      plan: null,
      text: [],
    };
  }
  const facts = planFacts(run.plan);
  const v = judge(facts, { budgetMs: t.budgetMs, indexes: t.indexes });
  return {
    ...base,
    params: run.params.map(showParam),
    params_from: run.paramsFrom,
    staged_rows: run.staged,
    analyzed: facts.analyzed,
    time_ms: round3(facts.totalMs),
    planning_ms: round3(facts.planningMs),
    execution_ms: round3(facts.executionMs),
    indexes_used: facts.indexes,
    seq_scans: facts.seqScans,
    warnings: facts.warnings,
    verdict: v.pass ? 'PASS' : 'FAIL',
    uses: v.uses,
    reasons: v.reasons,
    plan: run.plan,
    text: renderPlan(run.plan),
  };
}

/** The section of one query: a heading, its parameters, the tree. */
export function querySection(q: QueryReport): string[] {
  const expects = [q.budget_ms === null ? null : `budget ${q.budget_ms} ms`, q.index.length ? `index ${q.index.join(', ')}` : null].filter(Boolean);
  const out = [`== ${q.name}${expects.length ? `  (${expects.join(', ')})` : ''}`];
  if (q.params.length) out.push(`   params${q.params_from === 'parameter types' ? ' (guessed from their types: add a -- params: line)' : ''}: ${q.params.map((p, i) => `$${i + 1} = ${p}`).join(', ')}`);
  if (q.staged_rows !== null) out.push(`   cars_staging: ${q.staged_rows.toLocaleString('en-US')} rows staged (rolled back)`);
  if (q.plan === null) out.push(`   not explained: ${q.reasons.join('; ')}`);
  for (const line of q.text) out.push(`   ${line}`);
  return out;
}

/** The closing table: one verdict line per query, then the count. */
export function verdictTable(queries: QueryReport[]): string[] {
  const width = Math.max(0, ...queries.map((q) => q.name.length));
  const lines = queries.map((q) => verdictLine(q.name, q.time_ms, q.budget_ms, { pass: q.verdict === 'PASS', uses: q.uses, reasons: q.reasons }, width));
  const failedCount = queries.filter((q) => q.verdict === 'FAIL').length;
  lines.push(`${queries.length} ${queries.length === 1 ? 'query' : 'queries'}: ${queries.length - failedCount} PASS, ${failedCount} FAIL`);
  return lines;
}
