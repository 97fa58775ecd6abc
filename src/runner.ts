// One shared way to run a command that does work: open the database, record the run, call the
// command, turn what happened into a summary. Printing and exit codes stay in cli.ts.
import { CarsError, EXIT, isCarsError } from './errors.js';
import { openDatabase, type Database, type DatabaseConfig } from './db/database.js';
import { databaseError, isConnectionError } from './db/pool.js';
import { finishRun, heartbeat, markAbandoned, startRun } from './db/runs.js';
import { buildLeftoverIndexes } from './db/deferred-indexes.js';
import { describeError } from './db/sqlstate.js';
import { writeMetricsFile } from './metrics.js';
import type { Logger } from './logger.js';
import { RunReport, type Status, type Summary } from './report.js';

export interface Deps {
  log: Logger;
  report: RunReport;
  /** Aborted on SIGINT/SIGTERM: finish or roll back the batch in flight, then return. */
  signal: AbortSignal;
  /** Present when the command needs the database. */
  db: Database;
  home: string;
  /** Whether progress may be drawn, and whether stderr is a terminal. */
  progress: { enabled: boolean; tty: boolean; stream: NodeJS.WritableStream };
  stdout: NodeJS.WritableStream;
  stdin: NodeJS.ReadableStream;
  /** --json: stdout carries only the summary object, so commands write no data there. */
  json: boolean;
}

export interface Outcome {
  status?: Status;
  error?: CarsError;
}

export type Command = (deps: Deps) => Promise<Outcome | void>;

export interface RunSpec {
  command: string;
  source: string | null;
  needsDb: boolean;
  /** Record the run in `runs` (commands that change data or fetch). */
  record: boolean;
  db: DatabaseConfig;
  log: Logger;
  signal: AbortSignal;
  home: string;
  progress: Deps['progress'];
  stdout: NodeJS.WritableStream;
  stdin: NodeJS.ReadableStream;
  json: boolean;
  /** Hears the run's id once it is recorded (for log lines that carry it). */
  onRunId?: (id: number) => void;
  /** --metrics-file: written once the run is over, before its runs row is finalized. */
  metricsFile?: string;
}

export async function execute(spec: RunSpec, fn: Command): Promise<Summary> {
  const report = new RunReport(spec.command);
  report.source = spec.source;
  let db: Database | undefined;
  let status: Status = 'ok';
  let error: CarsError | undefined;
  let stopHeartbeat = () => {};
  try {
    if (spec.needsDb) {
      db = await report.phase('connect', () => openDatabase(spec.db, spec.log));
      // A run killed before it could finish (SIGKILL, the OOM killer, a reboot) never stays `running`.
      await markAbandoned(db.sql).catch(() => undefined);
      // An import that died between dropping and building the indexes of cars left them to us.
      await buildLeftoverIndexes(db.sql, spec.log).catch(() => undefined);
      if (spec.record) {
        report.runId = await startRun(db.sql, spec.command, spec.source).catch((e) => {
          throw databaseError(e, db!.target);
        });
        stopHeartbeat = heartbeat(db.sql, report.runId, () => ({ counts: report.rows, timeline: report.timeline.data() }));
        spec.onRunId?.(report.runId);
      }
    }
    const out = await fn({ log: spec.log, report, signal: spec.signal, db: db as Database, home: spec.home, progress: spec.progress, stdout: spec.stdout, stdin: spec.stdin, json: spec.json });
    if (out?.status) status = out.status;
    error = out?.error;
  } catch (e) {
    error = isCarsError(e) ? e : db && isConnectionError(e) ? databaseError(e, db.target) : new CarsError('INTERNAL', String((e as Error)?.stack ?? e), { cause: e });
    status = error.code === 'INTERRUPTED' ? 'interrupted' : error.exitCode === EXIT.threshold ? 'threshold' : 'failed';
  }
  if (spec.signal.aborted && status === 'ok') status = 'interrupted';
  const exit = error ? error.exitCode : status === 'interrupted' ? EXIT.interrupted : EXIT.ok;
  const summary = report.finish(status, exit, error ? { code: error.code, message: error.message } : undefined);
  stopHeartbeat();
  // The metrics file before the runs row and the JSON: a write that fails makes all three agree.
  if (spec.metricsFile) {
    await writeMetricsFile(spec.metricsFile, summary).catch((e) => {
      const message = `could not write --metrics-file ${spec.metricsFile}: ${(e as Error)?.message ?? e}`;
      if (summary.exit_code !== EXIT.ok) {
        spec.log.warn(`warning: ${message}`);
        return;
      }
      summary.status = 'failed';
      summary.exit_code = EXIT.usage;
      summary.error = { code: 'OUTPUT_UNWRITABLE', message: `${message}; the run's work itself is done` };
    });
  }
  if (db) {
    if (report.runId !== null) await recordEnd(db, report.runId, summary, spec.log);
    await db.close().catch(() => undefined);
  }
  return summary;
}

/** How long the final update of `runs` may take before it is tried again on a new pool. */
const FINISH_MS = 5_000;

/**
 * Finalizes the runs row; on a pool that lost connections mid-run (postgres.js can leave such a
 * pool with queries waiting for ever), once more on a fresh pool; a warning when it still fails.
 */
async function recordEnd(db: Database, id: number, summary: Summary, log: Logger): Promise<void> {
  let last: unknown;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      if (attempt > 0) await db.reconnect();
      await within(finishRun(db.sql, id, summary), FINISH_MS);
      return;
    } catch (e) {
      last = e;
    }
  }
  const why = describeError(last);
  log.warn(`warning: could not record the end of run ${id} in the runs table (${why}); its row still says 'running'`);
}

function within<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms / 1000} s`)), ms);
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}
