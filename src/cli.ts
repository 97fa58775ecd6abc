// The edge: the only file that touches process.argv, process.env, stdout/stderr, signals and the
// exit code. Everything it calls receives what it needs and returns data.
import os from 'node:os';
import path from 'node:path';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { listRuns, pruneRuns, showRun, type RunsOptions } from './commands/runs.js';
import { countsText } from './runs/format.js';
import { runsCsv, runsTable } from './runs/format.js';
import { runHtml, runSvg } from './runs/chart.js';
import { sparkline } from './timeline.js';
import { TIMELINE } from './report.js';
import { parseConfig, type Config, type ConfigEntry } from './config.js';
import { redact } from './db/target.js';
import { VERSION } from './version.js';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { CarsError, EXIT, isCarsError } from './errors.js';
import { createLogger, jsonLine } from './logger.js';
import { POOL_DEFAULTS } from './db/pool.js';
import type { DatabaseConfig } from './db/database.js';
import { execute, type Command as CarsCommand, type RunSpec } from './runner.js';
import { formatSummary } from './output.js';
import { checkOutputTarget } from './output-target.js';
import { printableLines } from './text/printable.js';
import type { Summary } from './report.js';
import { columnList, decimalMark, delimiter, intIn, numberIn, retryStatuses, shard } from './options.js';
import { ENCODINGS } from './sources/encoding.js';
import { parseMapOption } from './sources/column-map.js';
import type { SyncOptions, ExplainOptions } from './commands/contracts.js';
import type { SearchOptions } from './search/listing.js';
import { dbDestroy, dbMigrateCommand, dbPath, dbPsql, dbStartStop, dbStatusCommand, dbUrl, formatPaths, formatStatus, type DbPaths, type DbStatus } from './commands/db.js';
import { importCommand, type ImportOptions } from './commands/import.js';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
const env = process.env;
// Everything said on stderr: control characters from the input escaped, each line cut at
// STDERR_LINE_MAX (values in messages are cut shorter where they are put in).
const STDERR_LINE_MAX = 2000;
const stderr = (s: string) => process.stderr.write(printableLines(s.endsWith('\n') ? s.slice(0, -1) : s, STDERR_LINE_MAX) + '\n');
const args = process.argv.slice(2);
/**
 * `--json` anywhere on the command line (before a `--`): known before commander parses, so that an
 * error commander or an action throws before any work still ends in one JSON object on stdout.
 */
const wantsJson = args.slice(0, args.includes('--') ? args.indexOf('--') : undefined).includes('--json');

// ---- interrupts: the first Ctrl-C asks the command to stop cleanly, the second one quits ----
const interrupt = new AbortController();
let interrupts = 0;
function onSignal(sig: NodeJS.Signals) {
  interrupts++;
  if (interrupts > 1) {
    stderr(`cars: ${sig} again, quitting now`);
    process.exit(EXIT.interrupted);
  }
  // On a terminal the progress bar holds the line: the message starts a line of its own.
  stderr(`${process.stderr.isTTY ? '\n' : ''}cars: ${sig} received: finishing the batch in flight, then stopping (again to quit at once)`);
  interrupt.abort(new CarsError('INTERRUPTED', `interrupted by ${sig}`));
}
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
// A connection the server killed can surface as a rejection nobody awaits inside the driver
// (postgres.js 3.4.9, while it reconnects a pool whose sockets were terminated): the queries on it
// fail on their own, and are retried or reported there. That must not crash the run.
const LOST = new Set(['ECONNRESET', 'EPIPE', 'ECONNREFUSED', 'CONNECTION_CLOSED', 'CONNECTION_DESTROYED', 'CONNECTION_ENDED', '57P01']);
process.on('unhandledRejection', (e) => {
  if (LOST.has((e as { code?: string } | undefined)?.code ?? '')) return;
  process.stderr.write(`cars: unexpected failure: ${(e as Error)?.stack ?? e}\n`);
  process.exit(EXIT.unexpected);
});
// `cars generate | head` closes the pipe early: that is not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(EXIT.ok);
  throw e;
});

interface GlobalOpts {
  databaseUrl?: string;
  json?: boolean;
  quiet?: boolean;
  progress: boolean;
  metricsFile?: string;
  poolMax: number;
  idleTimeout: number;
  maxLifetime: number;
  connectTimeout: number;
  statementTimeout: number;
  logFormat: 'text' | 'json';
}

/** --log-format, read before commander has parsed (errors of the parse itself are printed in it too). */
const logJson = process.argv.some((a, i) => a === '--log-format=json' || (a === '--log-format' && process.argv[i + 1] === 'json'));

/** An error line for the operator: text, or with --log-format json one JSON object. */
function errorOut(code: string, message: string, hint?: string, runId: number | null = null): void {
  if (logJson) stderr(jsonLine('error', message, code, runId));
  else if (code === 'INTERNAL') stderr(`cars: unexpected failure: ${message}`);
  else stderr(`cars: error: ${message}${hint ? `\n  what to do: ${hint}` : ''}`);
}

/** $CARS_HOME, default ~/.cars. */
function carsHome(): string {
  return path.resolve(env.CARS_HOME || path.join(os.homedir(), '.cars'));
}

function dbConfig(g: GlobalOpts, cmd: Command): DatabaseConfig {
  const src = cmd.getOptionValueSourceWithGlobals?.('databaseUrl');
  return {
    url: g.databaseUrl || undefined,
    urlSource: src === 'env' ? 'DATABASE_URL' : '--database-url',
    home: carsHome(),
    pool: { max: g.poolMax, idleTimeout: g.idleTimeout, maxLifetime: g.maxLifetime, connectTimeout: g.connectTimeout, statementTimeout: g.statementTimeout },
  };
}

function specFor(cmd: Command, command: string, source: string | null, needsDb: boolean, record: boolean): RunSpec {
  const g = cmd.optsWithGlobals() as GlobalOpts & { rejects?: string; failures?: string; overwrite?: boolean };
  // Output files named on the command line are checked before any work. (The metrics file is
  // replaced by every run; a list is replaced only with --overwrite.)
  if (g.metricsFile) checkOutputTarget('--metrics-file', g.metricsFile);
  if (g.rejects) checkOutputTarget('--rejects', g.rejects, !!g.overwrite);
  if (g.failures) checkOutputTarget('--failures', g.failures, !!g.overwrite);
  let runId: number | null = null;
  const log = createLogger(stderr, !!g.quiet, { format: g.logFormat, runId: () => runId });
  return {
    command,
    source,
    needsDb,
    record,
    db: dbConfig(g, cmd),
    log,
    signal: interrupt.signal,
    home: carsHome(),
    progress: { enabled: !g.quiet && g.progress !== false, tty: !!process.stderr.isTTY, stream: process.stderr },
    stdout: process.stdout,
    stdin: process.stdin,
    json: !!g.json,
    onRunId: (id) => (runId = id),
    metricsFile: g.metricsFile,
  };
}

/**
 * Prints a summary (human on stderr, or JSON on stdout), writes metrics, sets the exit code.
 * `data` is what a command answers (a status, a path, a URL): it goes to stdout, where scripts
 * read it, unless --json puts the whole summary there instead.
 */
async function finish(cmd: Command, summary: Summary, human?: string, data?: string): Promise<void> {
  const g = cmd.optsWithGlobals() as GlobalOpts;
  // A run that failed before doing anything gets just its error line, not a report of zeros.
  const didWork = Object.values(summary.rows).some((n) => n > 0);
  if (g.json) process.stdout.write(JSON.stringify(summary) + '\n');
  else if (data !== undefined && summary.status !== 'failed') process.stdout.write(data.endsWith('\n') ? data : data + '\n');
  else if (!g.quiet && (summary.status !== 'failed' || didWork)) {
    let text = human ?? formatSummary(summary);
    // On a terminal, a long run's report ends with the shape of its rows/s.
    const points = summary[TIMELINE]?.points ?? [];
    const line = process.stderr.isTTY && summary.timing.total_ms > 5000 ? sparkline(points) : '';
    if (line) text += `\n  rows/s: ${line}`;
    stderr(text);
  }
  if (summary.error) {
    const { code, message } = summary.error;
    // Database messages already say what to check, in one line.
    errorOut(code, message, code.startsWith('DB_') || code === 'INTERNAL' ? undefined : new CarsError(code as never, '').hint, summary.run_id);
  }
  process.exitCode = summary.exit_code;
}

async function runWork(cmd: Command, command: string, source: string | null, needsDb: boolean, fn: CarsCommand, record = true, human?: (s: Summary) => string) {
  const summary = await execute(specFor(cmd, command, source, needsDb, record), fn);
  await finish(cmd, summary, human?.(summary));
}

/** commander's parser for a repeatable --map: a usage error (exit 2) names the bad entry. */
function mapArg(v: string, previous: ReturnType<typeof parseMapOption> | undefined) {
  try {
    return parseMapOption(v, previous);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}

/** --overwrite and --keep-lists, for the commands that write lists. */
function listOptions(): Option[] {
  return [
    new Option('--overwrite', 'replace the files named by --rejects / --failures if they exist (refused otherwise)'),
    new Option('--keep-lists <days>', 'remove default lists (rejects, failures, unknown VINs under $CARS_HOME) older than this')
      .argParser(intIn(1, 36_500))
      .default(30)
      .env('CARS_KEEP_LISTS'),
  ];
}

/** A batch that meets a deadlock, a timeout or a full server is retried whole for this long. */
function dbRetryWait(): Option {
  return new Option('--db-retry-wait <ms>', 'retry a batch after transient database errors (deadlock, timeouts, too many connections) for this long, in all')
    .argParser(intIn(0, 3_600_000))
    .default(60_000)
    .env('CARS_DB_RETRY_WAIT');
}

// ---- the program ----
const program = new Command('cars');
program
  .version(pkg.version)
  // With --json, stdout is the JSON object's alone: help and version text go to stderr.
  .configureOutput(wantsJson ? { writeOut: (t) => process.stderr.write(t) } : {})
  .description('Keep a car-listings PostgreSQL database fed: import CSV files and feeds, sync prices, explain queries.')
  .exitOverride()
  .showHelpAfterError('(add --help for usage)')
  // Sub-command help lists the global options too (--database-url, --json, --quiet, ...).
  .configureHelp({ showGlobalOptions: true })
  // commander repeats a bad argument in its message: escaped like every other line on stderr.
  .configureOutput({ writeErr: (s) => process.stderr.write(printableLines(s, STDERR_LINE_MAX)) })
  .addOption(new Option('--database-url <url>', 'PostgreSQL to use (default: the embedded server under $CARS_HOME)').env('DATABASE_URL'))
  .option('--json', 'print one JSON summary object on stdout, nothing else there')
  .option('-q, --quiet', 'no progress and no report on stderr; errors and warnings still print')
  .option('--no-progress', 'no progress bar or progress lines')
  .option('--metrics-file <path>', 'write Prometheus text metrics here, atomically (node_exporter textfile collector)')
  .option('--config <file>', 'settings file (default: cars.toml in the working directory, or CARS_CONFIG)')
  .addOption(new Option('--log-format <format>', 'warnings and errors on stderr: text, or json (one object a line: level, code, message, run_id)').choices(['text', 'json']).default('text').env('CARS_LOG_FORMAT'))
  .addOption(new Option('--pool-max <n>', 'most database connections').argParser(intIn(1, 1000)).default(POOL_DEFAULTS.max).env('CARS_POOL_MAX'))
  .addOption(new Option('--idle-timeout <s>', 'seconds before an idle connection closes').argParser(intIn(0)).default(POOL_DEFAULTS.idleTimeout).env('CARS_IDLE_TIMEOUT'))
  .addOption(new Option('--max-lifetime <s>', 'seconds before a connection is recycled').argParser(intIn(1)).default(POOL_DEFAULTS.maxLifetime).env('CARS_MAX_LIFETIME'))
  .addOption(new Option('--connect-timeout <s>', 'seconds to wait for a connection').argParser(intIn(1, 3600)).default(POOL_DEFAULTS.connectTimeout).env('CARS_CONNECT_TIMEOUT'))
  .addOption(new Option('--statement-timeout <ms>', 'longest a statement may run (0: no limit)').argParser(intIn(0)).default(POOL_DEFAULTS.statementTimeout).env('CARS_STATEMENT_TIMEOUT'))
  .addHelpText(
    'after',
    `
Examples:
  cars import fixtures/cars.csv              load a dealer export into the embedded database
  cars generate 100000 | cars import -       load synthetic cars from stdin
  cars db status                             where the data is and what it holds
  DATABASE_URL=postgres://me@db:5432/cars cars import stock.csv.gz --json

Environment: DATABASE_URL, CARS_HOME (default ~/.cars), CARS_POOL_MAX, CARS_IDLE_TIMEOUT,
CARS_MAX_LIFETIME, CARS_CONNECT_TIMEOUT, CARS_STATEMENT_TIMEOUT.
Exit codes: 0 done, 1 unexpected, 2 usage, 3 over a threshold, 4 remote source failed,
5 database unavailable, 130 interrupted.`,
  );

const db = program.command('db').description('the database: migrate, status, start, stop, path, url, psql, destroy');
db.command('migrate')
  .description('apply pending migrations (every command also does this first)')
  .addHelpText('after', '\nExample:\n  cars db migrate')
  .action(async (_o, cmd: Command) => {
    const spec = specFor(cmd, 'db migrate', null, true, true);
    // Migrations are this command's work: let it report them instead of openDatabase.
    spec.db = { ...spec.db };
    const summary = await execute({ ...spec, needsDb: false }, (deps) => dbMigrateCommand(spec.db, deps));
    const applied = (summary.applied as string[] | undefined) ?? [];
    await finish(cmd, summary, applied.length ? `applied ${applied.length} migration(s): ${applied.join(', ')} to ${summary.target}` : `nothing to apply: ${summary.target} is up to date`);
  });
db.command('status')
  .description('target, server version, data directory, migrations and row counts')
  .addHelpText('after', '\nExample:\n  cars db status\n  cars db status --json')
  .action(async (_o, cmd: Command) => {
    const spec = specFor(cmd, 'db status', null, false, false);
    let status: DbStatus | undefined;
    const summary = await execute(spec, async (deps) => {
      status = await dbStatusCommand(spec.db, deps);
    });
    await finish(cmd, summary, undefined, status ? formatStatus(status) : undefined);
  });
db.command('path')
  .description('where the embedded database keeps its data, socket and binaries')
  .addHelpText('after', '\nExample:\n  cars db path\n  du -sh "$(cars db path --json | jq -r .data_directory)"')
  .action(async (_o, cmd: Command) => {
    const spec = specFor(cmd, 'db path', null, false, false);
    let paths: DbPaths | undefined;
    const summary = await execute(spec, async (deps) => {
      paths = await dbPath(spec.db, spec.log);
      Object.assign(deps.report.extra, paths);
    });
    await finish(cmd, summary, undefined, paths ? formatPaths(paths) : undefined);
  });
db.command('url')
  .description('a connection string for the database (the embedded server\'s socket; DATABASE_URL without its password)')
  .addHelpText('after', '\nExample:\n  psql "$(cars db url)" -c "select count(*) from cars"   (while `cars db start` keeps it up)')
  .action(async (_o, cmd: Command) => {
    const spec = specFor(cmd, 'db url', null, false, false);
    let url: string | undefined;
    const summary = await execute(spec, async (deps) => {
      url = await dbUrl(spec.db, spec.log);
      deps.report.extra.url = url;
    });
    await finish(cmd, summary, undefined, url);
  });
db.command('psql')
  .description('open psql on the database (starts the embedded server for the session)')
  .argument('[args...]', 'passed on to psql, e.g. -c "select count(*) from cars"')
  .addHelpText('after', '\nExamples:\n  cars db psql\n  cars db psql -- -c "select brand, count(*) from cars group by 1"')
  .action(async (args: string[], _o, cmd: Command) => {
    const spec = specFor(cmd, 'db psql', null, false, false);
    let code = 0;
    const summary = await execute(spec, async () => {
      code = await dbPsql(spec.db, spec.log, args);
    });
    if (summary.error) await finish(cmd, summary);
    else process.exitCode = code;
  });
db.command('destroy')
  .description('stop the embedded server and remove its data and binaries (asks first)')
  .option('--yes', 'do not ask (for scripts)')
  .addHelpText('after', '\nExamples:\n  cars db destroy\n  CARS_HOME=/srv/cars cars db destroy --yes')
  .action(async (o: { yes?: boolean }, cmd: Command) => {
    const spec = specFor(cmd, 'db destroy', null, false, false);
    let removed: string[] | undefined;
    const summary = await execute(spec, async (deps) => {
      const paths = await dbPath(spec.db, spec.log);
      if (paths.database_url) throw new CarsError('USAGE', `cars db destroy removes the embedded database only, and DATABASE_URL is set; nothing of that server is touched`);
      if (!o.yes) {
        if (!process.stdin.isTTY) throw new CarsError('USAGE', `cars db destroy would remove ${paths.data_directory}; pass --yes to confirm when there is no terminal to ask on`);
        const { createInterface } = await import('node:readline/promises');
        const rl = createInterface({ input: process.stdin, output: process.stderr });
        const answer = await rl.question(`This stops the embedded PostgreSQL and removes ${paths.data_directory} (every car in it) and its binaries. Type yes to go on: `);
        rl.close();
        if (answer.trim().toLowerCase() !== 'yes') throw new CarsError('USAGE', 'not confirmed: nothing was removed');
      }
      removed = (await dbDestroy(spec.db, spec.log)).removed;
      deps.report.extra.removed = removed;
    });
    await finish(cmd, summary, undefined, removed ? (removed.length ? removed.map((p) => `removed ${p}`).join('\n') : 'nothing to remove') : undefined);
  });
for (const action of ['start', 'stop'] as const) {
  db.command(action)
    .description(action === 'start' ? 'start the embedded server and keep it up until `cars db stop`' : 'stop the embedded server')
    .addHelpText('after', `\nExample:\n  cars db ${action}`)
    .action(async (_o, cmd: Command) => {
      const spec = specFor(cmd, `db ${action}`, null, false, false);
      let line = '';
      const summary = await execute(spec, async () => {
        line = await dbStartStop(action, spec.db, spec.log);
      });
      await finish(cmd, summary, line || undefined);
    });
}

program
  .command('import')
  .description('load cars from a CSV file, stdin (-) or an http(s) URL')
  .argument('<source>', 'a path (.csv, .tsv, .gz), - for stdin, or an http(s):// URL')
  .addOption(new Option('--format <format>', 'input format (default: from the extension or Content-Type)').choices(['csv', 'ndjson', 'json']))
  .addOption(new Option('--delimiter <char>', "field delimiter: auto, ',', ';', tab or '|' (default: auto; a sep= first line or .tsv decides)").argParser(delimiter))
  .addOption(new Option('--encoding <name>', 'text encoding of the input (auto: a BOM, else UTF-8 unless the start is not UTF-8, then windows-1252)').choices([...ENCODINGS]).default('auto'))
  .addOption(new Option('--map <header=column>', "read this header (or JSON key) as this car column; repeatable; 'Header=' ignores it").argParser(mapArg))
  .addOption(new Option('--decimal <mark>', "decimal mark of prices: '.' or ',' (12500,50)").argParser(decimalMark).default('.'))
  .option('--strict-quotes', 'reject a quote inside an unquoted field instead of keeping it as a character')
  .addOption(new Option('--columns <names>', 'the file has no header row: these are its columns, in order (the first line is data)').argParser(columnList))
  .addOption(new Option('--max-record-bytes <n>', 'reject a longer record (or NDJSON line) and skip the rest of its line').argParser(intIn(1024, 1 << 30)).default(1 << 20))
  .option('--accept-unterminated', 'take a last line without a line break from stdin, a pipe or a URL without a length as it is')
  .addOption(new Option('--max-expand <ratio>', 'stop gzip input that unpacks to more than this many times its size (past 64 MiB)').argParser(intIn(1, 1_000_000)).default(1000))
  .addOption(new Option('--batch-size <rows>', 'rows per batch (one transaction each)').argParser(intIn(1, 1_000_000)).default(10000))
  .addOption(new Option('--workers <n>', 'parallel batch writers, each on its own connection').argParser(intIn(1, 64)).default(2))
  .addOption(new Option('--defer-indexes <when>', 'into an empty table, build the secondary indexes after the load (auto: for a file of 8 MiB or more)').choices(['auto', 'always', 'never']).default('auto'))
  .option('--rejects <path>', 'write rejected rows here (default: $CARS_HOME/rejects/<run>-<input>.csv)')
  .addOption(new Option('--max-rejects <n>', 'stop with exit 3 once more rows than this are rejected').argParser(intIn(0)))
  .option('--dry-run', 'parse and validate everything, write nothing')
  .option('--source <name>', 'the dealer (or feed) these cars come from: set on every car this run inserts or updates')
  .option('--snapshot', "the input is the source's whole inventory: its available and reserved cars not in it become sold")
  .addOption(new Option('--max-missing <percent>', 'a snapshot that would mark more than this share of the source\'s cars sold marks none (exit 3)').argParser(numberIn(0, 100)).default(20))
  .addOption(new Option('--concurrency <n>', 'HTTP requests in flight (URLs)').argParser(intIn(1, 256)).default(16))
  .addOption(new Option('--rate <req/s>', 'HTTP requests per second (URLs)').argParser(numberIn(0.01, 100_000)).default(50))
  .addOption(new Option('--retries <n>', 'HTTP retries per request (URLs)').argParser(intIn(0, 100)).default(5))
  .addOption(new Option('--retry-on <codes>', 'HTTP statuses retried, comma-separated, or none (URLs; default 408,429,500,502,503,504)').argParser(retryStatuses))
  .addOption(new Option('--timeout <ms>', 'HTTP headers and stalled-body timeout (URLs)').argParser(intIn(1, 3_600_000)).default(5000))
  .option('--restart', 'a paginated feed starts at its first page, not where an earlier run stopped')
  .option('--refetch', 'fetch a URL whole, without asking whether it changed since the last complete run')
  .addOption(dbRetryWait())
  .addOption(listOptions()[0])
  .addOption(listOptions()[1])
  .addHelpText(
    'after',
    `
Columns (header row, any order, case-insensitive): vin, brand, model, year, price required;
mileage, condition, color, listed_at optional; aliases such as Make, Odometer, Colour, Status are
known (see the README); other columns are ignored with a warning.

Examples:
  cars import fixtures/cars.csv
  cars import export.csv.gz --batch-size 10000 --workers 4
  cars import - --delimiter ';' < stock.csv
  cars import fixtures/dealers/excel-europe.csv --decimal ,
  cars import fixtures/dealers/autohaus.csv --delimiter ';' --map Fahrgestellnummer=vin --map Marke=brand
  cars import dealer.csv --rejects dealer-rejects.csv --max-rejects 100
  cars import dealer.csv --dry-run --json
  cars import https://dealer.example.com/api/cars --restart

A paginated feed (JSON pages) that stopped early resumes at its first page not committed;
a URL whose last complete run left an ETag or Last-Modified is asked If-None-Match /
If-Modified-Since, and a 304 ends the run at once (exit 0).`,
  )
  .action(async (source: string, o: ImportOptions, cmd: Command) => {
    if (o.snapshot && !o.source) throw new CarsError('USAGE', '--snapshot needs --source NAME: the source whose whole inventory the input is');
    if (o.source !== undefined && (o.source.trim() === '' || o.source.length > 200 || o.source.includes('\0'))) throw new CarsError('USAGE', '--source must be 1 to 200 characters');
    // (A dry run writes no car; with --snapshot it still asks the database what it would mark.)
    await runWork(cmd, 'import', source, !o.dryRun || !!o.snapshot, importCommand(source, o), !o.dryRun);
  });

program
  .command('generate')
  .description('write realistic synthetic cars CSV to stdout, for benchmarks and demos')
  .argument('<count>', 'how many rows', intIn(0))
  .addOption(new Option('--seed <n>', 'random seed (same seed, same output)').argParser(intIn(0)).default(1))
  .addOption(new Option('--bad-rate <fraction>', 'share of rows made invalid on purpose, 0 to 1').argParser(numberIn(0, 1)).default(0))
  .addHelpText('after', '\nExamples:\n  cars generate 1000 > cars.csv\n  cars generate 1000000 --seed 7 --bad-rate 0.01 | gzip > big.csv.gz')
  .action(async (count: number, o: { seed: number; badRate: number }, cmd: Command) => {
    if ((cmd.optsWithGlobals() as GlobalOpts).json) throw new CarsError('USAGE', 'cars generate writes its CSV on stdout, so it takes no --json');
    const { generateCommand } = await import('./commands/generate.js');
    await generateCommand(count, o, process.stdout);
  });

program
  .command('sync-prices')
  .description('bring prices in line with a price feed or a per-car price API (for cron)')
  .option('--feed <url|path>', 'bulk price feed: CSV or NDJSON of vin,price (a path, - or a URL)')
  .option('--api <base-url>', 'per-car price service: GET <base>/cars/<vin>/price')
  .option('--dry-run', 'fetch and compare, print counts and the first changes, write nothing')
  .addOption(new Option('--batch-size <rows>', 'prices per UPDATE').argParser(intIn(1, 100_000)).default(5000))
  .addOption(new Option('--workers <n>', 'parallel writers, each on its own connection').argParser(intIn(1, 64)).default(2))
  .addOption(new Option('--max-failure-rate <percent>', 'exit 3 when more than this share of cars failed').argParser(numberIn(0, 100)).default(1.0))
  .addOption(new Option('--shard <i/n>', 'sync only the cars whose VIN hashes to shard i of n (0-based)').argParser(shard))
  .addOption(new Option('--condition <condition>', 'with --api: only cars in this condition').choices(['available', 'sold', 'reserved']))
  .option('--rejects <path>', 'bad feed rows go here (default: $CARS_HOME/rejects/)')
  .addOption(new Option('--encoding <name>', 'text encoding of the feed (as for import)').choices([...ENCODINGS]).default('auto'))
  .addOption(new Option('--delimiter <char>', "CSV feed delimiter: auto, ',', ';', tab or '|'").argParser(delimiter))
  .addOption(new Option('--map <header=column>', "read this header (or key) as vin or price; repeatable").argParser(mapArg))
  .addOption(new Option('--decimal <mark>', "decimal mark of prices: '.' or ','").argParser(decimalMark).default('.'))
  .option('--strict-quotes', 'reject a quote inside an unquoted field')
  .addOption(new Option('--max-record-bytes <n>', 'reject a longer feed record and skip the rest of its line').argParser(intIn(1024, 1 << 30)).default(1 << 20))
  .option('--accept-unterminated', 'take a last line without a line break from stdin or a pipe as it is')
  .option('--failures <path>', 'cars whose price could not be fetched go here (default: $CARS_HOME/failures/)')
  .addOption(new Option('--concurrency <n>', 'HTTP requests in flight').argParser(intIn(1, 256)).default(16))
  .addOption(new Option('--rate <req/s>', 'HTTP requests per second').argParser(numberIn(0.01, 100_000)).default(50))
  .addOption(new Option('--retries <n>', 'HTTP retries per request').argParser(intIn(0, 100)).default(5))
  .addOption(new Option('--retry-on <codes>', 'HTTP statuses retried, comma-separated, or none (default 408,429,500,502,503,504)').argParser(retryStatuses))
  .addOption(new Option('--timeout <ms>', 'HTTP headers and stalled-body timeout').argParser(intIn(1, 3_600_000)).default(5000))
  .option('--refetch', 'fetch a feed URL whole, without asking whether it changed since the last complete run')
  .addOption(dbRetryWait())
  .addOption(listOptions()[0])
  .addOption(listOptions()[1])
  .addHelpText(
    'after',
    `
Examples:
  cars sync-prices --feed https://prices.example.com/today.csv
  cars sync-prices --feed prices.ndjson --dry-run
  cars sync-prices --feed https://prices.example.com/today.csv --refetch
  cars sync-prices --api https://prices.example.com --rate 200 --concurrency 32
  cars sync-prices --api https://prices.example.com --shard 0/4 --metrics-file /var/lib/node_exporter/cars.prom`,
  )
  .action(async (o: SyncOptions, cmd: Command) => {
    if (!!o.feed === !!o.api) throw new CarsError('USAGE', 'cars sync-prices needs exactly one of --feed <url|path> or --api <base-url>');
    const { syncPricesCommand } = await import('./commands/sync-prices.js');
    await runWork(cmd, 'sync-prices', o.feed ?? o.api ?? null, true, syncPricesCommand(o), !o.dryRun);
  });

program
  .command('explain')
  .description("show how the tool's own queries run, and check them against their budgets")
  .argument('[name]', 'one named query (all when omitted)')
  .option('--check', 'exit 3 when a query misses its budget or scans the whole cars table')
  .option('--no-analyze', 'plan without running')
  .option('--sql <select>', 'explain this query instead; it runs as the read-only role cars_explain_reader')
  .option('--analyze-anyway', 'with --sql, where that role cannot be had: run EXPLAIN ANALYZE as the connecting user (default: plan only)')
  .addHelpText('after', '\nExamples:\n  cars explain\n  cars explain search_by_brand_price --check\n  cars explain --sql "select * from cars where vin = \'1HGCM82633A004352\'"')
  .action(async (name: string | undefined, o: ExplainOptions, cmd: Command) => {
    const { explainCommand } = await import('./commands/explain.js');
    await runWork(cmd, 'explain', name ?? o.sql ?? null, true, explainCommand(name, o), false);
  });

program
  .command('search')
  .description('list cars, newest first, with keyset pagination')
  .option('--brand <brand>', 'exact brand')
  .option('--model <model>', 'exact model')
  .addOption(new Option('--condition <condition>').choices(['available', 'sold', 'reserved']))
  .addOption(new Option('--min-price <n>').argParser(numberIn(0, 1e10)))
  .addOption(new Option('--max-price <n>').argParser(numberIn(0, 1e10)))
  .addOption(new Option('--year-from <n>').argParser(intIn(1886, 3000)))
  .addOption(new Option('--year-to <n>').argParser(intIn(1886, 3000)))
  .addOption(new Option('--limit <n>', 'rows per page').argParser(intIn(1, 1000)).default(50))
  .option('--after <cursor>', 'the "next" cursor of the previous page')
  .addOption(new Option('--format <format>', 'output on stdout').choices(['table', 'json', 'csv']).default('table'))
  .addHelpText('after', '\nExamples:\n  cars search --brand Toyota --max-price 20000\n  cars search --format json --limit 100\n  cars search --format json --after <next from the previous page>')
  .action(async (o: SearchOptions, cmd: Command) => {
    const { searchCommand } = await import('./commands/search.js');
    await runWork(cmd, 'search', null, true, searchCommand(o), false);
  });

const runs = program
  .command('runs')
  .description('the run history, newest first (a run whose process is gone is marked abandoned)')
  .option('--command <name>', 'only runs of this command (import, sync-prices, ...)')
  .addOption(new Option('--status <status>', 'only runs that ended so').choices(['running', 'ok', 'threshold', 'failed', 'interrupted', 'abandoned']))
  .option('--since <when>', 'only runs started since: an age (24h, 7d, 90m) or a date (2026-12-01)')
  .addOption(new Option('--limit <n>', 'runs per page').argParser(intIn(1, 1000)).default(20))
  .option('--after <cursor>', 'the "next" cursor of the previous page')
  .addOption(new Option('--format <format>', 'output on stdout').choices(['table', 'json', 'csv']).default('table'))
  .addHelpText('after', '\nExamples:\n  cars runs\n  cars runs --command sync-prices --since 24h\n  cars runs --status failed --format json\n  cars runs show 42 --chart run42.svg\n  cars runs prune --older-than 90d')
  .action(async (o: RunsOptions, cmd: Command) => {
    const spec = specFor(cmd, 'runs', null, true, false);
    let data: string | undefined;
    const summary = await execute(spec, async (deps) => {
      const page = await listRuns(deps.db.sql, o);
      deps.report.rows.runs = page.items.length;
      data = o.format === 'json' ? JSON.stringify(page) : o.format === 'csv' ? runsCsv(page.items) : runsTable(page.items, page.next);
    });
    await finish(cmd, summary, undefined, data);
  });
runs
  .command('show')
  .description("one run's report as it was printed, its error and files; --chart draws it")
  .argument('<id>', 'the run id (the first column of `cars runs`)', intIn(1))
  .option('--chart <file>', 'write a picture of the run: rows/s and RSS over time, phases shaded (.svg, or .html for a page)')
  .addHelpText('after', '\nExamples:\n  cars runs show 42\n  cars runs show 42 --chart run42.svg')
  .action(async (id: number, o: { chart?: string }, cmd: Command) => {
    const spec = specFor(cmd, 'runs show', null, true, false);
    let data: string | undefined;
    const summary = await execute(spec, async (deps) => {
      const run = await showRun(deps.db.sql, id);
      Object.assign(deps.report.extra, { run: { ...run, timeline: undefined } });
      const lines: string[] = [];
      if (run.summary) lines.push(formatSummary(run.summary));
      else lines.push(`cars ${run.command}${run.source ? ` ${run.source}` : ''}: ${run.status} (run ${run.id}, started ${run.started_at}${run.host ? ` on ${run.host}, pid ${run.pid}` : ''})`);
      if (run.error && !run.summary?.error) lines.push(`error: ${run.error}`);
      else if (run.summary?.error) lines.push(`error: ${run.summary.error.message}`);
      // (The report names its rejects and failures files; the unknown VINs' list is added here.)
      if (typeof run.summary?.unknown_file === 'string') lines.push(`  unknown VINs file: ${run.summary.unknown_file}`);
      if (o.chart) {
        const label = { title: `cars ${run.command}${run.source ? ` ${run.source}` : ''}: run ${run.id}, ${run.status}`, subtitle: `started ${run.started_at}, ${run.duration_s ?? '?'} s, peak RSS ${run.peak_rss_mb ?? '?'} MB, ${countsText(run.rows)}${run.version ? `, cars ${run.version}` : ''}` };
        const svg = runSvg(run.timeline ?? { interval_ms: 1000, points: [], phases: [] }, label);
        const text = /\.html?$/i.test(o.chart) ? runHtml(svg, label) : svg;
        try {
          writeFileSync(o.chart, text);
        } catch (e) {
          throw new CarsError('USAGE', `--chart ${o.chart}: cannot write it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
        }
        deps.log.info(`wrote the chart of run ${run.id} to ${o.chart}`);
      }
      data = lines.join('\n');
    });
    await finish(cmd, summary, undefined, data);
  });
runs
  .command('prune')
  .description('remove the runs that ended before a cutoff (their price changes stay in the history)')
  .requiredOption('--older-than <age>', 'an age (90d, 12w) or a date (2026-01-01)')
  .addHelpText('after', '\nExample:\n  cars runs prune --older-than 90d')
  .action(async (o: { olderThan: string }, cmd: Command) => {
    const spec = specFor(cmd, 'runs prune', null, true, false);
    let data: string | undefined;
    const summary = await execute(spec, async (deps) => {
      const n = await pruneRuns(deps.db.sql, o.olderThan);
      deps.report.rows.removed = n;
      data = `removed ${n} run${n === 1 ? '' : 's'} that ended more than ${o.olderThan} ago`.replace(/more than (\d{4}-\d\d-\d\d\S*) ago/, 'before $1');
    });
    await finish(cmd, summary, undefined, data);
  });

// ---- the config file: flags, then the environment, then the file, then the defaults ----
let config: Config | undefined;

/** The commands that take a table in cars.toml, and the options each may set. */
function configurable(): Map<string, Set<string>> {
  const names = (c: Command) => new Set(c.options.map((o) => o.attributeName()).filter((n) => n !== 'version' && n !== 'config'));
  const known = new Map<string, Set<string>>([['global', names(program)]]);
  for (const c of program.commands) if (c.name() !== 'db' && c.name() !== 'config') known.set(c.name(), names(c));
  return known;
}

/** The file named by --config or CARS_CONFIG, or ./cars.toml when there is one. */
function configFile(): string | undefined {
  const argv = process.argv;
  const i = argv.findIndex((a) => a === '--config' || a.startsWith('--config='));
  if (i >= 0) return argv[i].startsWith('--config=') ? argv[i].slice('--config='.length) : argv[i + 1];
  if (env.CARS_CONFIG) return env.CARS_CONFIG;
  return existsSync('cars.toml') ? 'cars.toml' : undefined;
}

function loadConfig(): void {
  const file = configFile();
  if (!file) return;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new CarsError('USAGE', `cannot read the config file ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  config = parseConfig(file, text, configurable());
}

/** The value a config entry gives an option, through the option's own parser (so it is checked as a flag would be). */
function configValue(opt: Option, e: ConfigEntry): unknown {
  const fail = (why: string) => new CarsError('USAGE', `${e.where}: ${opt.attributeName().replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}: ${why}`);
  if (!opt.required && !opt.optional) {
    if (typeof e.value !== 'boolean') throw fail('expected true or false');
    return opt.negate ? e.value : e.value;
  }
  const one = (v: string, previous: unknown) => {
    if (opt.argChoices && !opt.argChoices.includes(v)) throw fail(`expected one of ${opt.argChoices.join(', ')}, got ${JSON.stringify(v)}`);
    try {
      return opt.parseArg ? opt.parseArg(v, previous) : v;
    } catch (err) {
      throw fail((err as Error).message);
    }
  };
  if (Array.isArray(e.value)) return e.value.reduce<unknown>((prev, v) => one(v, prev), undefined);
  return one(String(e.value), undefined);
}

function applyConfig(cmd: Command, table: string): void {
  for (const [name, e] of config?.tables.get(table) ?? []) {
    const source = cmd.getOptionValueSource(name);
    if (source === 'cli' || source === 'env') continue;
    const opt = cmd.options.find((o) => o.attributeName() === name);
    if (opt) cmd.setOptionValueWithSource(name, configValue(opt, e), 'config');
  }
}

program.hook('preAction', (_root, action) => {
  applyConfig(program, 'global');
  if (action.parent === program && action.name() !== 'config') applyConfig(action, action.name());
});

/** `cars config`: every setting, its value and where it came from (a password never shown). */
function effectiveSettings(): Array<{ scope: string; name: string; value: unknown; from: string }> {
  const out: Array<{ scope: string; name: string; value: unknown; from: string }> = [];
  const show = (v: unknown, name: string) => (name === 'databaseUrl' && typeof v === 'string' ? redact(v) : v);
  const snake = (n: string) => n.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
  const scopes: Array<[string, Command]> = [['global', program], ...program.commands.filter((c) => c.name() !== 'db' && c.name() !== 'config').map((c) => [c.name(), c] as [string, Command])];
  for (const [scope, cmd] of scopes) {
    for (const opt of cmd.options) {
      const name = opt.attributeName();
      if (name === 'version' || name === 'config') continue;
      const fromFile = config?.tables.get(scope)?.get(name);
      const envSet = opt.envVar !== undefined && env[opt.envVar] !== undefined;
      let value: unknown;
      let from: string;
      if (scope === 'global' && cmd.getOptionValueSource(name) === 'cli') {
        value = cmd.getOptionValue(name);
        from = 'flag';
      } else if (envSet) {
        value = opt.parseArg ? opt.parseArg(env[opt.envVar!]!, undefined) : env[opt.envVar!];
        from = `env ${opt.envVar}`;
      } else if (fromFile) {
        value = configValue(opt, fromFile);
        from = fromFile.where;
      } else {
        value = opt.defaultValue;
        from = 'default';
      }
      if (value === undefined) continue;
      out.push({ scope, name: snake(name), value: show(value, name), from });
    }
  }
  return out;
}

program
  .command('config')
  .description('print the effective settings and where each came from (flag, environment, cars.toml, default)')
  .addHelpText('after', '\nExamples:\n  cars config\n  cars --config /etc/cars.toml config --json\n\nThe file: cars.toml in the working directory, or --config <file>, or CARS_CONFIG.\nGlobal options at the top, a table per command:\n  pool_max = 10\n  [import]\n  batch_size = 10000\n  [sync-prices]\n  rate = 100')
  .action(async (_o, cmd: Command) => {
    const g = cmd.optsWithGlobals() as GlobalOpts;
    const settings = effectiveSettings();
    if (g.json) {
      process.stdout.write(JSON.stringify({ command: 'config', version: VERSION, status: 'ok', exit_code: 0, file: config?.file ?? null, settings }) + '\n');
      return;
    }
    const lines = [`# config file: ${config?.file ?? 'none (cars.toml in the working directory, --config or CARS_CONFIG)'}`];
    let scope = '';
    for (const st of settings) {
      if (st.scope !== scope) {
        scope = st.scope;
        if (scope !== 'global') lines.push(`[${scope}]`);
      }
      lines.push(`${`${st.name} = ${JSON.stringify(st.value instanceof Map ? Object.fromEntries(st.value) : st.value)}`.padEnd(40)} # ${st.from}`);
    }
    process.stdout.write(lines.join('\n') + '\n');
  });

/** The command named on the command line ("db status", "import", ...), for a JSON error object. */
function commandOf(argv: string[]): string | null {
  const names = new Set(program.commands.map((c) => c.name()));
  const at = argv.findIndex((a) => names.has(a));
  if (at < 0) return null;
  const sub = program.commands.find((c) => c.name() === argv[at])!.commands.map((c) => c.name());
  return sub.includes(argv[at + 1]) ? `${argv[at]} ${argv[at + 1]}` : argv[at];
}

/** An exit before any work (a usage error, help): one JSON object on stdout with --json. */
function exitEarly(exitCode: number, error?: { code: string; message: string }): void {
  if (wantsJson) {
    const status = exitCode === EXIT.ok ? 'ok' : 'failed';
    process.stdout.write(JSON.stringify({ command: commandOf(args), status, exit_code: exitCode, run_id: null, source: null, rows: {}, ...(error ? { error } : {}) }) + '\n');
  }
  process.exitCode = exitCode;
}

async function main() {
  try {
    loadConfig();
    await program.parseAsync(process.argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // Commander has printed its message (and the usage hint) on stderr already.
      if (e.exitCode === 0) exitEarly(EXIT.ok);
      else exitEarly(EXIT.usage, { code: 'USAGE', message: e.message.replace(/^error: /, '') });
      return;
    }
    if (isCarsError(e)) {
      errorOut(e.code, e.message, e.hint);
      exitEarly(e.exitCode, { code: e.code, message: e.message });
      return;
    }
    stderr(`cars: unexpected failure: ${(e as Error)?.stack ?? e}`);
    exitEarly(EXIT.unexpected, { code: 'INTERNAL', message: String((e as Error)?.message ?? e) });
  }
}

await main();
// The run is over and reported. A socket the driver still holds must not keep the process (and a
// cron job) waiting: postgres.js 3.4.9 reopens a connection for a reserve() that was still
// queued when its pool ended, which happens after connections were killed mid-run.
setTimeout(() => process.exit(), 1000).unref();
