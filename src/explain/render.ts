// A plan as an indented tree a person can read, and the one-line verdict per query. Pure.
import { BIG_TABLES, count, explained, nodeLabel, nodeWarnings, type PlanNode } from './plan.js';
import { ms, type Verdict } from './verdict.js';

const BRANCH = '├─ ';
const LAST = '└─ ';
const PIPE = '│  ';
const SPACE = '   ';

function stats(n: PlanNode, analyzed: boolean): string {
  const parts: string[] = [];
  const loops = n['Actual Loops'];
  if (!analyzed || n['Actual Rows'] === undefined) {
    parts.push(`rows ${count(n['Plan Rows'])} est`);
  } else if (!loops) {
    parts.push(`rows ${count(n['Plan Rows'])} est / never executed`);
  } else {
    // Like EXPLAIN's own text: rows and time per loop (parallel workers' loops run at once, so a
    // product would overstate the time), then the loops.
    parts.push(`rows ${count(n['Plan Rows'])} est / ${count(n['Actual Rows'])} actual`);
    if (n['Actual Total Time'] !== undefined) parts.push(ms(n['Actual Total Time']));
    if (loops > 1) parts.push(`× ${count(loops)} loops`);
  }
  const hit = n['Shared Hit Blocks'];
  const read = n['Shared Read Blocks'];
  if (hit !== undefined || read !== undefined) parts.push(`buffers hit ${count(hit ?? 0)} read ${count(read ?? 0)}`);
  const temp = n['Temp Written Blocks'];
  if (typeof temp === 'number' && temp > 0) parts.push(`temp written ${count(temp)}`);
  return parts.join('  ');
}

function details(n: PlanNode): string[] {
  const out: string[] = [];
  if (n['Index Cond']) out.push(`index cond: ${n['Index Cond']}`);
  if (n['Recheck Cond'] && !n['Index Cond']) out.push(`recheck: ${n['Recheck Cond']}`);
  if (n['Hash Cond']) out.push(`hash cond: ${n['Hash Cond']}`);
  if (n['Join Filter']) out.push(`join filter: ${n['Join Filter']}`);
  if (n.Filter) {
    const removed = n['Rows Removed by Filter'];
    out.push(`filter: ${n.Filter}${removed ? ` (removed ${count(removed)} rows)` : ''}`);
  }
  if (n['Sort Key']) {
    let how = '';
    if (n['Sort Method']) {
      how = `, ${n['Sort Method']}`;
      if (n['Sort Space Used'] !== undefined) how += ` ${count(n['Sort Space Used'])} kB`;
      if (n['Sort Space Type']) how += ` ${n['Sort Space Type'].toLowerCase()}`;
    }
    out.push(`sort key: ${n['Sort Key'].join(', ')}${how}`);
  }
  const arbiters = n['Conflict Arbiter Indexes'];
  if (arbiters?.length) {
    const action = typeof n['Conflict Resolution'] === 'string' ? ` do ${n['Conflict Resolution'].toLowerCase()}` : '';
    out.push(`on conflict${action} via ${arbiters.join(', ')}`);
  }
  return out;
}

/** The plan tree, one node per line, its conditions and warnings below it. */
export function renderPlan(value: unknown, bigTables: readonly string[] = BIG_TABLES): string[] {
  const e = explained(value);
  const analyzed = e['Execution Time'] !== undefined;
  const out: string[] = [];
  const draw = (n: PlanNode, head: string, cont: string, ancestors: PlanNode[]) => {
    out.push(`${head}${nodeLabel(n)}  ${stats(n, analyzed)}`);
    const kids = n.Plans ?? [];
    const under = cont + (kids.length ? PIPE : SPACE);
    for (const d of details(n)) out.push(`${under}${d}`);
    for (const w of nodeWarnings(n, ancestors, bigTables)) out.push(`${under}! ${w.message}`);
    kids.forEach((k, i) => {
      const last = i === kids.length - 1;
      draw(k, cont + (last ? LAST : BRANCH), cont + (last ? SPACE : PIPE), [...ancestors, n]);
    });
  };
  draw(e.Plan, '', '', []);
  const triggers = Array.isArray(e.Triggers) ? (e.Triggers as Array<Record<string, unknown>>) : [];
  for (const t of triggers) {
    out.push(`trigger ${t['Trigger Name']}${t.Relation ? ` on ${t.Relation}` : ''}: ${count(Number(t.Calls ?? 0))} calls, ${ms(Number(t.Time ?? 0))}`);
  }
  if (analyzed) out.push(`planning ${ms(Number(e['Planning Time'] ?? 0))}, execution ${ms(Number(e['Execution Time']))}`);
  return out;
}

/** `name  12.3 ms / budget 50 ms  PASS (uses index X)`; names padded to `width`. */
export function verdictLine(name: string, totalMs: number | null, budgetMs: number | null, v: Verdict, width = name.length): string {
  const time = totalMs === null ? 'not run' : ms(totalMs);
  const budget = budgetMs === null ? 'no budget' : `budget ${ms(budgetMs).replace('.0 ms', ' ms')}`;
  const why = v.reasons.length ? `: ${v.reasons.join('; ')}` : '';
  return `${name.padEnd(width)}  ${time.padStart(10)} / ${budget.padEnd(14)} ${v.pass ? 'PASS' : 'FAIL'} (${v.uses})${why}`;
}
