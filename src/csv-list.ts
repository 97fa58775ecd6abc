// A CSV file for the operator (rejects, failures, unknown VINs), created on its first row; the
// first few rows stay in memory for the report. By default under $CARS_HOME, named after the run
// and the input:
//   rejects:  the input's columns + line,error,raw   rows of an import or a feed that were refused
//   failures: vin,url,error        cars whose price could not be fetched (they keep their price)
//   unknown:  vin,price,line       feed VINs the table does not have (feed mode)
//             vin,url              cars the price service answered 404 for (API mode)
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { csvField } from './sources/csv-records.js';
import type { Target } from './db/target.js';
import { CarsError } from './errors.js';

export class CsvList {
  readonly path: string;
  readonly header: string[];
  count = 0;
  readonly first: string[][] = [];
  private readonly keep: number;
  private out: fs.WriteStream | undefined;
  /** A write that failed (the stream reports it later than the write that caused it). */
  private failed: CarsError | undefined;

  private readonly overwrite: boolean;
  /** `bom`: start the file with a UTF-8 byte order mark (Excel then reads it as UTF-8). */
  private readonly bom: () => boolean;

  /**
   * `overwrite`: replace a file of that name (an operator's --overwrite); otherwise the file must
   * not exist yet (a list is never shared by two runs, nor one run's list replaced by another's).
   */
  constructor(file: string, header: string[], keep = 10, overwrite = false, opts: { bom?: () => boolean } = {}) {
    this.path = file;
    this.header = header;
    this.keep = keep;
    this.overwrite = overwrite;
    this.bom = opts.bom ?? (() => false);
  }

  async add(cells: string[]): Promise<void> {
    if (this.failed) throw this.failed;
    if (!this.out) {
      try {
        // Lists hold dealers' data: only their owner reads them.
        fs.mkdirSync(path.dirname(this.path), { recursive: true, mode: 0o700 });
      } catch (e) {
        throw (this.failed = this.cannotWrite(e));
      }
      this.out = fs.createWriteStream(this.path, { flags: this.overwrite ? 'w' : 'wx', mode: 0o600 });
      this.out.on('error', (e) => (this.failed ??= this.cannotWrite(e)));
      this.out.write((this.bom() ? '\ufeff' : '') + this.header.map((c) => csvField(c)).join(',') + '\n');
    }
    this.count++;
    if (this.first.length < this.keep) this.first.push(cells);
    if (!this.out.write(cells.map((c) => csvField(c)).join(',') + '\n')) {
      if (this.failed) throw this.failed;
      await once(this.out, 'drain').catch((e) => {
        throw (this.failed ??= this.cannotWrite(e));
      });
    }
  }

  async close(): Promise<void> {
    if (!this.out) return;
    const out = this.out;
    await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve()))).catch((e) => {
      this.failed ??= this.cannotWrite(e);
    });
    if (this.failed) throw this.failed;
  }

  private cannotWrite(e: unknown): CarsError {
    return new CarsError('OUTPUT_UNWRITABLE', `cannot write ${this.path}: ${(e as Error)?.message ?? e}`, { cause: e });
  }

  /** The absolute path when something was written, else null (for the summary). */
  get written(): string | null {
    return this.out ? path.resolve(this.path) : null;
  }

  /** The first rows as objects keyed by the header, for the JSON summary. */
  firstRows(): Array<Record<string, string>> {
    return this.first.map((cells) => Object.fromEntries(this.header.map((h, i) => [h, cells[i] ?? ''])));
  }
}

/**
 * What names a run's default lists: the database (its name and a hash of its redacted target, so
 * two databases sharing a $CARS_HOME never share a name) and the run id; without a run (dry run),
 * the time and the process id.
 */
export function listLabel(runId: number | null, target: Pick<Target, 'url' | 'display'> | null, now = new Date(), pid = process.pid): string {
  if (runId === null || target === null) return `dry-${now.toISOString().replace(/[-:]/g, '').replace(/\..*/, '')}-${pid}`;
  let name = 'db';
  try {
    name = decodeURIComponent(new URL(target.url).pathname.slice(1)) || name;
  } catch {
    // not a URL, or a malformed escape: the hash alone tells databases apart
  }
  name = name.replace(/[^\w.-]+/g, '_');
  const hash = createHash('sha256').update(target.display).digest('hex').slice(0, 8);
  return `${name}-${hash}-run${runId}`;
}

/** `$CARS_HOME/<dir>/<label>-<source>.<kind>.csv`; the source is named by its file name or host. */
export function defaultListPath(home: string, dir: string, runLabel: string, source: string, kind: string): string {
  let base: string;
  if (source === '-') base = 'stdin';
  else if (/^https?:\/\//i.test(source)) {
    try {
      const u = new URL(source);
      const last = u.pathname.split('/').filter(Boolean).pop();
      base = last && /\.\w+$/.test(last) ? last : u.host;
    } catch {
      base = 'remote';
    }
  } else base = path.basename(source);
  base = base.replace(/\.(csv|tsv|txt|ndjson|jsonl|json)(\.gz)?$/i, '').replace(/[^\w.-]+/g, '_') || 'input';
  return path.join(home, dir, `${runLabel}-${base}.${kind}.csv`);
}

/** The folders of $CARS_HOME that hold default lists. */
export const LIST_DIRS = ['rejects', 'failures', 'unknown'] as const;

/**
 * Removes default lists (`*.csv` in $CARS_HOME/rejects, failures, unknown) last written more
 * than `days` days ago; returns how many. Files an operator named elsewhere are never touched.
 */
export function pruneLists(home: string, days: number, now = Date.now()): number {
  const before = now - days * 86_400_000;
  let removed = 0;
  for (const dir of LIST_DIRS) {
    let names: string[];
    try {
      names = fs.readdirSync(path.join(home, dir));
    } catch {
      continue;
    }
    for (const name of names) {
      if (!name.endsWith('.csv')) continue;
      const file = path.join(home, dir, name);
      try {
        const st = fs.statSync(file);
        if (st.isFile() && st.mtimeMs < before) {
          fs.unlinkSync(file);
          removed++;
        }
      } catch {
        // another run removed it first
      }
    }
  }
  return removed;
}
