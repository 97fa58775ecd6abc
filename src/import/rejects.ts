// The rejects file: the input's columns with the original values, plus line, error and raw.
// `cars import` reads it back as it is (it ignores these three extra columns without a warning),
// so an operator fixes the values in place and imports the file again.
import { CsvList } from '../csv-list.js';

export const REJECT_COLUMNS = ['line', 'error', 'raw'] as const;

export class RejectsFile {
  private readonly columns: string[];
  private readonly list: CsvList;

  constructor(file: string, columns: string[], overwrite = false, opts: { bom?: () => boolean } = {}) {
    this.columns = columns;
    this.list = new CsvList(file, [...columns, ...REJECT_COLUMNS], 1, overwrite, opts);
  }

  get path(): string {
    return this.list.path;
  }

  get count(): number {
    return this.list.count;
  }

  /** `where` is a line number, or a page URL and index for remote sources. */
  async add(fields: Array<string | undefined>, where: string | number, error: string, raw = ''): Promise<void> {
    const cells: string[] = [];
    for (let i = 0; i < this.columns.length; i++) cells.push(fields[i] ?? '');
    cells.push(String(where), error, raw);
    await this.list.add(cells);
  }

  /** The first rejected row's line (or page and index) and error, for messages. */
  get first(): { where: string; error: string } | undefined {
    const cells = this.list.first[0];
    return cells && { where: cells[this.columns.length], error: cells[this.columns.length + 1] };
  }

  close(): Promise<void> {
    return this.list.close();
  }

  get written(): boolean {
    return this.list.written !== null;
  }
}
