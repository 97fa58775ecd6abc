// The rejects file: the input's columns with the original values, plus line, error and raw.
// `cars import` reads it back as it is (it ignores these three extra columns without a warning),
// so an operator fixes the values in place and imports the file again.
import fs from 'node:fs';
import path from 'node:path';
import { once } from 'node:events';
import { csvField } from '../sources/csv-records.js';

export const REJECT_COLUMNS = ['line', 'error', 'raw'] as const;

export class RejectsFile {
  readonly path: string;
  private readonly columns: string[];
  private out: fs.WriteStream | undefined;
  count = 0;

  constructor(file: string, columns: string[]) {
    this.path = file;
    this.columns = columns;
  }

  /** `where` is a line number, or a page URL and index for remote sources. */
  async add(fields: Array<string | undefined>, where: string | number, error: string, raw = ''): Promise<void> {
    if (!this.out) {
      fs.mkdirSync(path.dirname(this.path), { recursive: true });
      this.out = fs.createWriteStream(this.path);
      this.out.write([...this.columns, ...REJECT_COLUMNS].map((c) => csvField(c)).join(',') + '\n');
    }
    const cells: string[] = [];
    for (let i = 0; i < this.columns.length; i++) cells.push(csvField(fields[i] ?? ''));
    cells.push(csvField(String(where)), csvField(error), csvField(raw));
    this.count++;
    if (!this.out.write(cells.join(',') + '\n')) await once(this.out, 'drain');
  }

  async close(): Promise<void> {
    if (!this.out) return;
    const out = this.out;
    await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
  }

  get written(): boolean {
    return this.out !== undefined;
  }
}

/** `$CARS_HOME/rejects/<run>-<input>.rejects.csv` */
export function defaultRejectsPath(home: string, runLabel: string, input: string): string {
  const base = input === '-' ? 'stdin' : path.basename(input).replace(/\.(csv|tsv|txt|ndjson|json)(\.gz)?$/i, '').replace(/[^\w.-]+/g, '_') || 'input';
  return path.join(home, 'rejects', `${runLabel}-${base}.rejects.csv`);
}
