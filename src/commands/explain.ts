// cars explain [name] | --sql <select>: how the tool's named queries run, against their budgets.
import postgres from 'postgres';
import { CarsError, usage } from '../errors.js';
import { allNamedQueries } from '../db/queries.js';
import { isConnectionError } from '../db/pool.js';
import type { Sql } from '../db/pool.js';
import type { Command, Deps, Outcome } from '../runner.js';
import type { ExplainOptions } from './contracts.js';
import { declaredIndexes } from '../explain/verdict.js';
import { readQueryProblem } from '../explain/read-only.js';
import { readerRole } from '../explain/reader.js';
import { printableLines } from '../text/printable.js';
import { explainOne, ParamsLineError, type ExplainSettings, type ExplainTarget } from '../explain/run.js';
import { drawSamples } from '../explain/samples.js';
import { querySection, queryReport, verdictTable, type QueryReport } from '../explain/report.js';
import type { Samples } from '../explain/params.js';

/** Below this many rows the planner rightly reads cars whole; the checks mean little there. */
const SMALL_TABLE = 10_000;

function targets(name: string | undefined, o: ExplainOptions): ExplainTarget[] {
  if (o.sql !== undefined) {
    if (name) throw usage(`give a query name or --sql, not both (got "${name}" and --sql)`);
    const problem = readQueryProblem(o.sql);
    if (problem) throw usage(`--sql: the query ${problem}`);
    return [{ name: '--sql', text: o.sql, budgetMs: null, indexes: [], settings: {} }];
  }
  const all = allNamedQueries().map((q) => ({ name: q.name, text: q.text, budgetMs: q.budgetMs, indexes: declaredIndexes(q.index), settings: q.settings, staging: q.staging }));
  if (!name) return all;
  const one = all.filter((q) => q.name === name);
  if (!one.length) {
    const near = closest(name, all.map((q) => q.name));
    throw usage(`no named query "${name}"${near ? ` (did you mean ${near}?)` : ''}; the named queries are ${all.map((q) => q.name).join(', ')}`);
  }
  return one;
}

/** What an operator should know about the table before reading the plans. */
async function tableNotes(sql: Sql): Promise<{ rows: number; notes: string[] }> {
  const [t] = await sql`
    select greatest(c.reltuples, 0)::bigint as rows, s.n_live_tup, s.n_mod_since_analyze,
           coalesce(s.last_analyze, s.last_autoanalyze) is not null as analyzed
    from pg_class c left join pg_stat_user_tables s on s.relid = c.oid
    where c.oid = 'cars'::regclass`;
  const rows = Math.max(Number(t?.rows ?? 0), Number(t?.n_live_tup ?? 0));
  const notes: string[] = [];
  if (rows < SMALL_TABLE) {
    notes.push(`cars holds about ${rows.toLocaleString('en-US')} rows: on a table this small the planner rightly reads it whole, so scans, indexes and budgets are only meaningful on production-sized data`);
  } else if (!t?.analyzed) {
    notes.push('cars has not been analyzed yet: estimates are guesses until autovacuum analyzes it (or run ANALYZE cars)');
  } else if (Number(t.n_mod_since_analyze ?? 0) > 0.2 * rows) {
    notes.push(`${Number(t.n_mod_since_analyze).toLocaleString('en-US')} rows of cars changed since it was last analyzed: estimates may be off until autovacuum analyzes it (or run ANALYZE cars)`);
  }
  return { rows, notes };
}

/** The server refused a `--sql` query: that is the command line's fault (exit 2), not the database's. */
function sqlRefused(e: unknown, role: string | null): CarsError | null {
  if (!(e instanceof postgres.PostgresError) || isConnectionError(e)) return null;
  const why =
    e.code === '25006'
      ? 'tried to write, and runs in a read-only transaction (nothing was changed)'
      : e.code === '42501' && role
        ? `needs a right the role ${role} does not have, which can only read: ${e.message} (SQLSTATE 42501)`
        : `was refused by the server: ${e.message} (SQLSTATE ${e.code})`;
  return usage(`--sql: the query ${why}`);
}

/** The connection went away under a `--sql` query (it may have ended it itself): exit 5, said plainly. */
function connectionLost(e: unknown, deps: Deps): CarsError | null {
  if (!isConnectionError(e)) return null;
  const code = (e as { code?: string }).code;
  const why = code === '57P01' || code === 'CONNECTION_CLOSED' ? 'the server closed it: the query, or someone else, may have ended the session' : `${code}`;
  return new CarsError('DB_UNAVAILABLE', `${deps.db.target.display}: the connection was lost while explaining --sql (${why}); nothing was changed`, { cause: e });
}

/**
 * How an operator's `--sql` may run: as the reader role, or, where it cannot be had, planned
 * without running (ANALYZE would run it) unless --analyze-anyway; the note says which and why.
 */
async function sqlSettings(sql: Sql, o: ExplainOptions): Promise<{ role: string | null; analyze: boolean; note: string | null }> {
  const analyze = o.analyze !== false;
  const reader = await readerRole(sql);
  if (reader.role !== null) return { role: reader.role, analyze, note: `--sql runs as the role ${reader.role}: it can read, and nothing else` };
  if (!analyze) return { role: null, analyze, note: `--sql is planned as the connecting user: ${reader.why}` };
  if (o.analyzeAnyway) {
    return { role: null, analyze, note: `--sql ran with ANALYZE as the connecting user (--analyze-anyway), guarded only by the read-only transaction: ${reader.why}` };
  }
  return { role: null, analyze: false, note: `--sql was planned, not run (no ANALYZE): ${reader.why}; --analyze-anyway runs it as the connecting user in a read-only transaction` };
}

async function explainAll(deps: Deps, list: ExplainTarget[], o: ExplainOptions, adhoc: { role: string | null; analyze: boolean } | null): Promise<QueryReport[]> {
  const sql = deps.db.sql;
  let samples: Promise<Samples> | undefined;
  const settings: ExplainSettings = { analyze: adhoc ? adhoc.analyze : o.analyze !== false, role: adhoc?.role ?? null, samples: () => (samples ??= drawSamples(sql)) };
  const out: QueryReport[] = [];
  for (const t of list) {
    if (deps.signal.aborted) throw new CarsError('INTERRUPTED', `interrupted after ${out.length} of ${list.length} queries`);
    try {
      out.push(queryReport(t, await explainOne(sql, t, settings, o.sql !== undefined)));
    } catch (e) {
      // A dead connection is never given back to the pool (see inRolledBackTransaction), so
      // ending the pool would wait out its whole timeout for it: there is nothing left to wait for.
      if (isConnectionError(e)) await deps.db.sql.end({ timeout: 0 }).catch(() => undefined);
      if (o.sql !== undefined) throw sqlRefused(e, adhoc?.role ?? null) ?? connectionLost(e, deps) ?? e;
      // One broken named query is reported as a FAIL; the others are still explained.
      if (e instanceof ParamsLineError) out.push(queryReport(t, { error: e.message }));
      else if (e instanceof postgres.PostgresError && !isConnectionError(e)) out.push(queryReport(t, { error: `${e.message} (SQLSTATE ${e.code})` }));
      else throw e;
    }
  }
  return out;
}

/** Checks the name or --sql at once (a usage error needs no database), then returns the work. */
export function explainCommand(name: string | undefined, o: ExplainOptions): Command {
  const list = targets(name, o);
  return async (deps): Promise<Outcome | void> => {
    const { rows, notes } = await deps.report.phase('inspect', () => tableNotes(deps.db.sql));
    const adhoc = o.sql !== undefined ? await sqlSettings(deps.db.sql, o) : null;
    if (adhoc?.note) notes.push(adhoc.note);
    const analyzed = adhoc ? adhoc.analyze : o.analyze !== false;
    const queries = await deps.report.phase('explain', () => explainAll(deps, list, o, adhoc));
    const failures = queries.filter((q) => q.verdict === 'FAIL');
    deps.report.rows.queries = queries.length;
    deps.report.rows.passed = queries.length - failures.length;
    deps.report.rows.failed = failures.length;
    deps.report.extra.analyzed = analyzed;
    if (adhoc) deps.report.extra.sql_role = adhoc.role;
    deps.report.extra.table_rows = rows;
    deps.report.extra.notes = notes;
    deps.report.extra.queries = queries.map(({ text: _text, ...q }) => q);

    // Data goes to stdout unless --json owns it (`json` on Deps: see the proposed change to runner.ts).
    if (!deps.json) {
      const how = !analyzed ? `EXPLAIN (plans only${o.analyze === false ? ', --no-analyze' : ''})` : 'EXPLAIN (ANALYZE, BUFFERS), rolled back';
      const lines = [`cars explain: ${queries.length} ${queries.length === 1 ? 'query' : 'queries'}, ${how}, cars holds about ${rows.toLocaleString('en-US')} rows`];
      for (const n of notes) lines.push(`note: ${n}`);
      for (const q of queries) lines.push('', ...querySection(q));
      lines.push('', ...verdictTable(queries), '');
      // Plans quote the query's constants and names: escaped like everything shown.
      deps.stdout.write(printableLines(lines.join('\n')));
    }

    if (o.check && failures.length) {
      const which = failures.map((q) => `${q.name} (${q.reasons.join('; ')})`).join(', ');
      return { status: 'threshold', error: new CarsError('BUDGET_MISSED', `${failures.length} of ${queries.length} queries failed the check: ${which}`) };
    }
  };
}

/** The name within two edits of `name` (a typo), if there is one. */
export function closest(name: string, names: string[]): string | undefined {
  let best: string | undefined;
  let bestD = 3;
  for (const n of names) {
    const d = editDistance(name.toLowerCase(), n);
    if (d < bestD) [best, bestD] = [n, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}
