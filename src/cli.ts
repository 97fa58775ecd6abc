// The edge: the only file that touches process.argv, process.env, stdout/stderr, signals and the
// exit code. Everything it calls receives what it needs and returns data.
import os from 'node:os';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { CarsError, EXIT, isCarsError } from './errors.js';
import { createLogger } from './logger.js';
import { POOL_DEFAULTS } from './db/pool.js';
import type { DatabaseConfig } from './db/database.js';
import { execute, type Command as CarsCommand, type RunSpec } from './runner.js';
import { formatSummary } from './output.js';
import { writeMetricsFile } from './metrics.js';
import type { Summary } from './report.js';
import { delimiter, intIn, numberIn, retryStatuses, shard } from './options.js';
import type { SyncOptions, ExplainOptions, SearchOptions } from './commands/contracts.js';
import { dbMigrate, dbStartStop, dbStatus, formatStatus, type DbStatus } from './commands/db.js';
import { importCommand, type ImportOptions } from './commands/import.js';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
const env = process.env;
const stderr = (s: string) => process.stderr.write(s.endsWith('\n') ? s : s + '\n');

// ---- interrupts: the first Ctrl-C asks the command to stop cleanly, the second one quits ----
const interrupt = new AbortController();
let interrupts = 0;
function onSignal(sig: NodeJS.Signals) {
  interrupts++;
  if (interrupts > 1) {
    stderr(`cars: ${sig} again, quitting now`);
    process.exit(EXIT.interrupted);
  }
  stderr(`cars: ${sig} received: finishing the batch in flight, then stopping (again to quit at once)`);
  interrupt.abort(new CarsError('INTERRUPTED', `interrupted by ${sig}`));
}
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
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
  const g = cmd.optsWithGlobals() as GlobalOpts;
  const log = createLogger(stderr, !!g.quiet);
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
  };
}

/** Prints a summary (human on stderr, or JSON on stdout), writes metrics, sets the exit code. */
async function finish(cmd: Command, summary: Summary, human?: string): Promise<void> {
  const g = cmd.optsWithGlobals() as GlobalOpts;
  // A run that failed before doing anything gets just its error line, not a report of zeros.
  const didWork = Object.values(summary.rows).some((n) => n > 0);
  if (g.json) process.stdout.write(JSON.stringify(summary) + '\n');
  else if (!g.quiet && (summary.status !== 'failed' || didWork)) stderr(human ?? formatSummary(summary));
  if (summary.error) {
    const { code, message } = summary.error;
    if (code === 'INTERNAL') stderr(`cars: unexpected failure: ${message}`);
    // Database messages already say what to check, in one line.
    else if (code.startsWith('DB_')) stderr(`cars: error: ${message}`);
    else stderr(`cars: error: ${message}\n  what to do: ${new CarsError(code as never, '').hint}`);
  }
  if (g.metricsFile) {
    await writeMetricsFile(g.metricsFile, summary).catch((e) => {
      stderr(`cars: error: could not write --metrics-file ${g.metricsFile}: ${(e as Error).message}`);
      if (summary.exit_code === EXIT.ok) summary.exit_code = EXIT.usage;
    });
  }
  process.exitCode = summary.exit_code;
}

async function runWork(cmd: Command, command: string, source: string | null, needsDb: boolean, fn: CarsCommand, record = true, human?: (s: Summary) => string) {
  const summary = await execute(specFor(cmd, command, source, needsDb, record), fn);
  await finish(cmd, summary, human?.(summary));
}

// ---- the program ----
const program = new Command('cars');
program
  .version(pkg.version)
  .description('Keep a car-listings PostgreSQL database fed: import CSV files and feeds, sync prices, explain queries.')
  .exitOverride()
  .showHelpAfterError('(add --help for usage)')
  .addOption(new Option('--database-url <url>', 'PostgreSQL to use (default: the embedded server under $CARS_HOME)').env('DATABASE_URL'))
  .option('--json', 'print one JSON summary object on stdout, nothing else there')
  .option('-q, --quiet', 'no progress and no report on stderr; errors and warnings still print')
  .option('--no-progress', 'no progress bar or progress lines')
  .option('--metrics-file <path>', 'write Prometheus text metrics here, atomically (node_exporter textfile collector)')
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

const db = program.command('db').description('the database: migrate, status, start, stop');
db.command('migrate')
  .description('apply pending migrations (every command also does this first)')
  .addHelpText('after', '\nExample:\n  cars db migrate')
  .action(async (_o, cmd: Command) => {
    const spec = specFor(cmd, 'db migrate', null, true, true);
    // Migrations are this command's work: let it report them instead of openDatabase.
    spec.db = { ...spec.db };
    const summary = await execute({ ...spec, needsDb: false }, async (deps) => {
      const { openDatabase } = await import('./db/database.js');
      const conn = await deps.report.phase('connect', () => openDatabase(spec.db, spec.log, { migrate: false }));
      try {
        await dbMigrate({ ...deps, db: conn });
      } finally {
        await conn.close();
      }
    });
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
      const { openDatabase } = await import('./db/database.js');
      const conn = await openDatabase(spec.db, spec.log, { migrate: false });
      try {
        status = await dbStatus({ ...deps, db: conn });
      } finally {
        await conn.close();
      }
    });
    await finish(cmd, summary, status ? formatStatus(status) : undefined);
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
  .addOption(new Option('--delimiter <char>', "field delimiter: ',' ';' or tab (default: ',' or tab for .tsv)").argParser(delimiter))
  .addOption(new Option('--batch-size <rows>', 'rows per batch (one transaction each)').argParser(intIn(1, 1_000_000)).default(5000))
  .addOption(new Option('--workers <n>', 'parallel batch writers, each on its own connection').argParser(intIn(1, 64)).default(2))
  .option('--rejects <path>', 'write rejected rows here (default: $CARS_HOME/rejects/<run>-<input>.csv)')
  .addOption(new Option('--max-rejects <n>', 'stop with exit 3 once more rows than this are rejected').argParser(intIn(0)))
  .option('--dry-run', 'parse and validate everything, write nothing')
  .addOption(new Option('--concurrency <n>', 'HTTP requests in flight (URLs)').argParser(intIn(1, 256)).default(16))
  .addOption(new Option('--rate <req/s>', 'HTTP requests per second (URLs)').argParser(numberIn(0.01, 100_000)).default(50))
  .addOption(new Option('--retries <n>', 'HTTP retries per request (URLs)').argParser(intIn(0, 100)).default(5))
  .addOption(new Option('--retry-on <codes>', 'HTTP statuses retried, comma-separated, or none (URLs; default 408,429,500,502,503,504)').argParser(retryStatuses))
  .addOption(new Option('--timeout <ms>', 'HTTP headers and stalled-body timeout (URLs)').argParser(intIn(1, 3_600_000)).default(5000))
  .addHelpText(
    'after',
    `
Columns (header row, any order, case-insensitive): vin, brand, model, year, price required;
mileage, condition, color, listed_at optional; other columns are ignored with a warning.

Examples:
  cars import fixtures/cars.csv
  cars import export.csv.gz --batch-size 10000 --workers 4
  cars import - --delimiter ';' < stock.csv
  cars import dealer.csv --rejects dealer-rejects.csv --max-rejects 100
  cars import dealer.csv --dry-run --json`,
  )
  .action(async (source: string, o: ImportOptions, cmd: Command) => {
    await runWork(cmd, 'import', source, !o.dryRun, importCommand(source, o), !o.dryRun);
  });

program
  .command('generate')
  .description('write realistic synthetic cars CSV to stdout, for benchmarks and demos')
  .argument('<count>', 'how many rows', intIn(0))
  .addOption(new Option('--seed <n>', 'random seed (same seed, same output)').argParser(intIn(0)).default(1))
  .addOption(new Option('--bad-rate <fraction>', 'share of rows made invalid on purpose, 0 to 1').argParser(numberIn(0, 1)).default(0))
  .addHelpText('after', '\nExamples:\n  cars generate 1000 > cars.csv\n  cars generate 1000000 --seed 7 --bad-rate 0.01 | gzip > big.csv.gz')
  .action(async (count: number, o: { seed: number; badRate: number }) => {
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
  .option('--failures <path>', 'cars whose price could not be fetched go here (default: $CARS_HOME/failures/)')
  .addOption(new Option('--concurrency <n>', 'HTTP requests in flight').argParser(intIn(1, 256)).default(16))
  .addOption(new Option('--rate <req/s>', 'HTTP requests per second').argParser(numberIn(0.01, 100_000)).default(50))
  .addOption(new Option('--retries <n>', 'HTTP retries per request').argParser(intIn(0, 100)).default(5))
  .addOption(new Option('--retry-on <codes>', 'HTTP statuses retried, comma-separated, or none (default 408,429,500,502,503,504)').argParser(retryStatuses))
  .addOption(new Option('--timeout <ms>', 'HTTP headers and stalled-body timeout').argParser(intIn(1, 3_600_000)).default(5000))
  .addHelpText(
    'after',
    `
Examples:
  cars sync-prices --feed https://prices.example.com/today.csv
  cars sync-prices --feed prices.ndjson --dry-run
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
  .option('--sql <select>', 'explain this read-only query instead')
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

async function main() {
  try {
    await program.parseAsync(process.argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      process.exitCode = e.exitCode === 0 ? EXIT.ok : EXIT.usage;
      return;
    }
    if (isCarsError(e)) {
      stderr(`cars: error: ${e.message}\n  what to do: ${e.hint}`);
      process.exitCode = e.exitCode;
      return;
    }
    stderr(`cars: unexpected failure: ${(e as Error)?.stack ?? e}`);
    process.exitCode = EXIT.unexpected;
  }
}

await main();
