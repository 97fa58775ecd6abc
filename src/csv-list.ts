// A CSV file for the operator (rejects, failures, unknown VINs), created on its first row; the
// first few rows stay in memory for the report. By default under $CARS_HOME, named after the run
// and the input:
//   rejects:  the input's columns + line,error,raw   rows of an import or a feed that were refused
//   failures: vin,url,error        cars whose price could not be fetched (they keep their price)
//   unknown:  vin,price,line       feed VINs the table does not have (feed mode)
//             vin,url              cars the price service answered 404 for (API mode)
import fs from 'node:fs';
import path from 'node:path';
import { once } from 'node:events';
import { csvField } from './sources/csv-records.js';
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

  constructor(file: string, header: string[], keep = 10) {
    this.path = file;
    this.header = header;
    this.keep = keep;
  }

  async add(cells: string[]): Promise<void> {
    if (this.failed) throw this.failed;
    if (!this.out) {
      try {
        fs.mkdirSync(path.dirname(this.path), { recursive: true });
      } catch (e) {
        throw (this.failed = this.cannotWrite(e));
      }
      this.out = fs.createWriteStream(this.path);
      this.out.on('error', (e) => (this.failed ??= this.cannotWrite(e)));
      this.out.write(this.header.map((c) => csvField(c)).join(',') + '\n');
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

/** `$CARS_HOME/<dir>/<run>-<source>.<kind>.csv`; the source is named by its file name or host. */
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
