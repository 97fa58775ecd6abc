// What an EXPLAIN (FORMAT JSON) plan says, as plain data: the indexes it uses, the tables it reads
// whole, and the warnings an operator should see. Pure: table-tested on stored plans.

/** One node of `EXPLAIN (FORMAT JSON)` output; only the keys read here are named. */
export interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  Alias?: string;
  'Index Name'?: string;
  'Scan Direction'?: string;
  Operation?: string;
  Strategy?: string;
  'Join Type'?: string;
  'Parent Relationship'?: string;
  'Subplan Name'?: string;
  'CTE Name'?: string;
  'Function Name'?: string;
  'Plan Rows': number;
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  'Actual Total Time'?: number;
  'Shared Hit Blocks'?: number;
  'Shared Read Blocks'?: number;
  'Sort Key'?: string[];
  'Sort Method'?: string;
  'Sort Space Used'?: number;
  'Sort Space Type'?: string;
  'Index Cond'?: string;
  'Recheck Cond'?: string;
  'Hash Cond'?: string;
  'Join Filter'?: string;
  Filter?: string;
  'Rows Removed by Filter'?: number;
  'Conflict Arbiter Indexes'?: string[];
  Plans?: PlanNode[];
  [key: string]: unknown;
}

/** The one object of the array that EXPLAIN (FORMAT JSON) returns. */
export interface Explained {
  Plan: PlanNode;
  'Planning Time'?: number;
  'Execution Time'?: number;
  [key: string]: unknown;
}

export type WarningKind = 'seq_scan' | 'disk_sort' | 'misestimate';

export interface PlanWarning {
  kind: WarningKind;
  /** The node's label, as the tree prints it. */
  node: string;
  message: string;
}

export interface PlanFacts {
  /** Ran with ANALYZE: actual rows and times are known. */
  analyzed: boolean;
  planningMs: number | null;
  executionMs: number | null;
  /** Planning plus execution; null without ANALYZE. */
  totalMs: number | null;
  /** Every index the plan reads or uses as an ON CONFLICT arbiter, in plan order. */
  indexes: string[];
  /** Tables read by a sequential scan, in plan order. */
  seqScans: string[];
  warnings: PlanWarning[];
}

/** Tables too big to read whole: a sequential scan of one is a warning and fails `--check`. */
export const BIG_TABLES = ['cars'];
/** An estimate this many times off the actual row count is a warning. */
export const MISESTIMATE_FACTOR = 10;

/** EXPLAIN's JSON is an array of one object; postgres.js hands it over parsed. */
export function explained(value: unknown): Explained {
  const first = Array.isArray(value) ? value[0] : value;
  if (!first || typeof first !== 'object' || !('Plan' in first)) throw new TypeError('not EXPLAIN (FORMAT JSON) output: no "Plan"');
  return first as Explained;
}

/** The node as the tree prints it: "Index Scan using cars_price_idx on cars". */
export function nodeLabel(n: PlanNode): string {
  let type = n['Node Type'];
  if (type === 'ModifyTable' && n.Operation) type = n.Operation;
  else if (type === 'Aggregate' && n.Strategy === 'Hashed') type = 'HashAggregate';
  else if (type === 'Aggregate' && n.Strategy === 'Sorted') type = 'GroupAggregate';
  if (n['Parallel Aware'] === true) type = `Parallel ${type}`;
  if (n['Scan Direction'] === 'Backward') type += ' Backward';
  if (n['Join Type'] && n['Join Type'] !== 'Inner') type += ` (${n['Join Type']})`;
  const parts = [type];
  if (n['Index Name']) parts.push(`using ${n['Index Name']}`);
  const on = n['Relation Name'] ?? n['CTE Name'] ?? n['Function Name'];
  if (on) parts.push(`on ${on}${n.Alias && n.Alias !== on ? ` ${n.Alias}` : ''}`);
  else if (n['Node Type'].endsWith('Scan') && n.Alias) parts.push(`on ${n.Alias}`);
  if (n['Subplan Name']) parts.push(`[${n['Subplan Name']}]`);
  return parts.join(' ');
}

/** Visits every node, depth first, with its ancestors. */
export function walk(root: PlanNode, visit: (n: PlanNode, ancestors: PlanNode[]) => void, ancestors: PlanNode[] = []): void {
  visit(root, ancestors);
  for (const child of root.Plans ?? []) walk(child, visit, [...ancestors, root]);
}

/** How far apart an estimate and an actual row count are, as a factor of at least 1. */
export function estimateFactor(estimated: number, actual: number): number {
  const hi = Math.max(estimated, actual);
  const lo = Math.max(Math.min(estimated, actual), 1);
  return hi / lo;
}

// A node below a Limit stops early by design: its actual count is not comparable with the
// planner's estimate for a full run.
function stopsEarly(ancestors: PlanNode[]): boolean {
  return ancestors.some((a) => a['Node Type'] === 'Limit');
}

/** The factor an executed node's estimate is off by, when it is MISESTIMATE_FACTOR or more. */
function misestimate(n: PlanNode): number | null {
  const actual = n['Actual Rows'];
  if (actual === undefined || !n['Actual Loops']) return null;
  const factor = estimateFactor(n['Plan Rows'], actual);
  return factor >= MISESTIMATE_FACTOR ? factor : null;
}

// A bad estimate is reported where it starts, not again at every node built on it: a node whose
// input was already that far off, or a CTE Scan (it repeats the estimate of its WITH query).
function inherited(n: PlanNode): boolean {
  return n['Node Type'] === 'CTE Scan' || (n.Plans ?? []).some((c) => misestimate(c) !== null);
}

/** The warnings about one node; `ancestors` are the nodes above it, root first. */
export function nodeWarnings(n: PlanNode, ancestors: PlanNode[], bigTables: readonly string[] = BIG_TABLES): PlanWarning[] {
  const label = nodeLabel(n);
  const out: PlanWarning[] = [];
  const rel = n['Relation Name'];
  if (n['Node Type'] === 'Seq Scan' && rel && bigTables.includes(rel)) {
    out.push({ kind: 'seq_scan', node: label, message: `sequential scan of ${rel}: reads the whole table` });
  }
  if (n['Sort Space Type'] === 'Disk') {
    out.push({
      kind: 'disk_sort',
      node: label,
      message: `sort spilled to disk (${n['Sort Space Used'] === undefined ? '?' : count(n['Sort Space Used'])} kB${n['Sort Method'] ? `, ${n['Sort Method']}` : ''}): raise work_mem or sort fewer rows`,
    });
  }
  const factor = misestimate(n);
  if (factor !== null && !stopsEarly(ancestors) && !inherited(n)) {
    const estimated = n['Plan Rows'];
    const actual = n['Actual Rows']!;
    out.push({
      kind: 'misestimate',
      node: label,
      message: `estimated ${count(estimated)} rows, got ${count(actual)} (${Math.round(factor)}x ${actual > estimated ? 'more' : 'fewer'}): stale statistics (ANALYZE) or correlated columns (CREATE STATISTICS)`,
    });
  }
  return out;
}

export function planFacts(value: unknown, bigTables: readonly string[] = BIG_TABLES): PlanFacts {
  const e = explained(value);
  const indexes: string[] = [];
  const seqScans: string[] = [];
  const warnings: PlanWarning[] = [];
  const addIndex = (name: string) => {
    if (!indexes.includes(name)) indexes.push(name);
  };
  walk(e.Plan, (n, ancestors) => {
    if (n['Index Name']) addIndex(n['Index Name']);
    for (const arbiter of n['Conflict Arbiter Indexes'] ?? []) addIndex(arbiter);
    if (n['Node Type'] === 'Seq Scan' && n['Relation Name']) seqScans.push(n['Relation Name']);
    warnings.push(...nodeWarnings(n, ancestors, bigTables));
  });
  const planningMs = typeof e['Planning Time'] === 'number' ? e['Planning Time'] : null;
  const executionMs = typeof e['Execution Time'] === 'number' ? e['Execution Time'] : null;
  return {
    analyzed: executionMs !== null,
    planningMs,
    executionMs,
    totalMs: executionMs === null ? null : executionMs + (planningMs ?? 0),
    indexes,
    seqScans,
    warnings,
  };
}

/** 12,345 for counts; fractional actual rows (PostgreSQL 18 averages over loops) keep 2 decimals. */
export function count(n: number): string {
  return Number.isInteger(n) ? n.toLocaleString('en-US') : n.toLocaleString('en-US', { maximumFractionDigits: 2 });
}
