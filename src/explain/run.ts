// Explaining one query against the database: inside a transaction that is always rolled back (so
// EXPLAIN ANALYZE of a write changes nothing), READ ONLY unless the query is one of the tool's
// own writes, with its parameters filled and, for the import merge, the staging table filled.
// An operator's `--sql` also runs as the reader role, where there is one (see reader.ts).
import type postgres from 'postgres';
import type { Sql } from '../db/pool.js';
import { inRolledBackTransaction, type Tx } from '../db/transaction.js';
import { settingsStatement } from '../db/queries.js';
import { inferParams, needsSamples, parseParams, paramsLine, resolveParams, type ParamSpec, type Samples } from './params.js';
import { readQueryProblem } from './read-only.js';
import { fillStaging, readsStaging } from './staging.js';

export interface ExplainTarget {
  name: string;
  text: string;
  /** null for `--sql`. */
  budgetMs: number | null;
  indexes: string[];
  /** Server settings the query is planned with where the tool runs it (none for `--sql`). */
  settings: Readonly<Record<string, string>>;
  /** For a statement reading cars_staging: a mix of listed and new cars, or only new ones. */
  staging?: 'mixed' | 'new';
}

export interface ExplainRun {
  params: unknown[];
  /** Where the parameters came from: the file's `-- params:` line, or guessed from their types. */
  paramsFrom: 'params line' | 'parameter types' | 'none';
  /** Rows put into cars_staging first (the import merge), else null. */
  staged: number | null;
  readOnly: boolean;
  /** EXPLAIN (FORMAT JSON)'s output, as the server sent it. */
  plan: unknown;
}

export interface ExplainSettings {
  analyze: boolean;
  /** The role an operator's `--sql` runs as (SET LOCAL ROLE), or null to run as the connecting user. */
  role: string | null;
  /** Drawn once per run, on first use. */
  samples: () => Promise<Samples>;
}

/** A `-- params:` line that cannot be read. */
export class ParamsLineError extends Error {}

// postgres.js sends a query without parameters over the simple protocol, which runs every
// statement in the text; the extended protocol (simple: false) refuses more than one.
const EXTENDED = { simple: false } as postgres.UnsafeQueryOptions;

async function paramSpecs(tx: Tx, t: ExplainTarget): Promise<{ specs: ParamSpec[]; from: ExplainRun['paramsFrom'] }> {
  const line = paramsLine(t.text);
  if (line !== null) {
    try {
      return { specs: parseParams(line), from: 'params line' };
    } catch (e) {
      throw new ParamsLineError(`sql/queries/${t.name}.sql: -- params: ${(e as Error).message}`);
    }
  }
  const described = await tx.unsafe(t.text, [], EXTENDED).describe();
  const types = described.types ?? [];
  return { specs: inferParams(types), from: types.length ? 'parameter types' : 'none' };
}

export async function explainOne(sql: Sql, t: ExplainTarget, s: ExplainSettings, adhoc = false): Promise<ExplainRun> {
  const readOnly = adhoc || readQueryProblem(t.text) === null;
  const options = s.analyze ? 'analyze, buffers, format json' : 'format json';
  return inRolledBackTransaction(sql, readOnly ? 'read only' : 'read write', async (tx) => {
    if (adhoc && s.role) await tx.unsafe(`set local role ${quoteIdent(s.role)}`);
    const staged = !adhoc && readsStaging(t.text) ? await fillStaging(tx, t.staging) : null;
    // Planned as the tool plans it where it runs it.
    const planner = settingsStatement(t.settings);
    if (planner) await tx.unsafe(planner);
    const { specs, from } = adhoc ? { specs: [], from: 'none' as const } : await paramSpecs(tx, t);
    const params = needsSamples(specs) ? resolveParams(specs, await s.samples()) : resolveParams(specs, {} as Samples);
    const bound = params as never[];
    // Plan once without running, so the timed run does not pay for this connection's cold
    // catalog caches: the budget is the query's, not a new session's.
    if (s.analyze) await tx.unsafe(`explain (format json) ${t.text}`, bound, EXTENDED);
    const [row] = await tx.unsafe(`explain (${options}) ${t.text}`, bound, EXTENDED);
    return { params, paramsFrom: from, staged, readOnly, plan: row['QUERY PLAN'] };
  });
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
