// One shared way to run a command that does work: open the database, record the run, call the
// command, turn what happened into a summary. Printing and exit codes stay in cli.ts.
import { CarsError, EXIT, isCarsError } from './errors.js';
import { openDatabase, type Database, type DatabaseConfig } from './db/database.js';
import { databaseError, isConnectionError } from './db/pool.js';
import { finishRun, heartbeat, markAbandoned, startRun } from './db/runs.js';
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
  if (db) {
    if (report.runId !== null) await finishRun(db.sql, report.runId, summary).catch(() => undefined);
    await db.close().catch(() => undefined);
  }
  return summary;
}
