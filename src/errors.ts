// The one table of errors and exit codes. The README's "Exit codes" section mirrors it.

export const EXIT = {
  ok: 0,
  unexpected: 1,
  usage: 2,
  threshold: 3,
  remote: 4,
  database: 5,
  interrupted: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** Stable error codes, each with its exit code and what the operator should do next. */
export const ERRORS = {
  USAGE: { exit: EXIT.usage, hint: 'check the command line; `cars <command> --help` lists the options' },
  NOT_IMPLEMENTED: { exit: EXIT.usage, hint: 'this command has not landed yet; see the README for what works today' },
  INPUT_UNREADABLE: { exit: EXIT.usage, hint: 'check the path and its permissions' },
  OUTPUT_EXISTS: { exit: EXIT.usage, hint: 'pass --overwrite to replace the file, or name a new one' },
  OUTPUT_UNWRITABLE: { exit: EXIT.usage, hint: 'name a file in a folder that exists and that you can write to' },
  INPUT_NOT_TEXT: { exit: EXIT.usage, hint: 'give a CSV text file (a spreadsheet must be saved as CSV first); UTF-16 needs its byte order mark or --encoding' },
  INPUT_HEADER: { exit: EXIT.usage, hint: "the header line must name the columns; map other names with --map 'Header=column' (the README lists the known aliases)" },
  EMBEDDED_FAILED: { exit: EXIT.database, hint: 'see the server log named in the message; `cars db status` shows the data directory' },
  DB_UNAVAILABLE: { exit: EXIT.database, hint: 'check that the server runs and that host and port in DATABASE_URL are right' },
  DB_AUTH: { exit: EXIT.database, hint: 'check the user and password in DATABASE_URL' },
  DB_NOT_FOUND: { exit: EXIT.database, hint: 'check the database name in DATABASE_URL, or create it' },
  DB_BUSY: { exit: EXIT.database, hint: 'another session held the rows, or the server was overloaded, for all of --db-retry-wait; run again later, or find the blocking session (pg_stat_activity)' },
  DB_REFUSED: { exit: EXIT.database, hint: 'the server refused a statement; the message names it' },
  MIGRATION_FAILED: { exit: EXIT.database, hint: 'fix the named migration; nothing of it was applied' },
  ALL_REJECTED: { exit: EXIT.threshold, hint: 'every row was rejected: see the first error and the rejects file; a wrong delimiter or a broken export is the usual cause' },
  MAX_MISSING: { exit: EXIT.threshold, hint: 'check that the export is complete; if the cars were sold, raise --max-missing (the message says to what)' },
  MAX_REJECTS: { exit: EXIT.threshold, hint: 'fix the rows in the rejects file, or raise --max-rejects' },
  MAX_FAILURE_RATE: { exit: EXIT.threshold, hint: 'see the failures file; raise --max-failure-rate if this is expected' },
  LOCKED: { exit: EXIT.threshold, hint: 'another run holds the lock; wait for it or check the named host and pid' },
  BUDGET_MISSED: { exit: EXIT.threshold, hint: 'a query missed its budget or scanned the whole table; see the plan above' },
  REMOTE_FAILED: { exit: EXIT.remote, hint: 'the remote source failed after its retries; run again later, nothing committed is lost' },
  INTERRUPTED: { exit: EXIT.interrupted, hint: 'run the same command again to finish; committed batches are not repeated' },
  INTERNAL: { exit: EXIT.unexpected, hint: 'this is a bug in cars; please report it with the command line' },
} as const;

export type ErrorCode = keyof typeof ERRORS;

export class CarsError extends Error {
  readonly code: ErrorCode;
  readonly exitCode: ExitCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CarsError';
    this.code = code;
    this.exitCode = ERRORS[code].exit;
  }

  get hint(): string {
    return ERRORS[this.code].hint;
  }
}

export function isCarsError(e: unknown): e is CarsError {
  return e instanceof CarsError;
}

export function usage(message: string): CarsError {
  return new CarsError('USAGE', message);
}
