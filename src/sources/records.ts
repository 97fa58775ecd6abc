// Sources of records for import: each yields the input's column names and, chunk by chunk, its
// records with their provenance (a line number, or a page URL and index).
import { CsvByteSplitter, type CsvByteItem } from './csv-records.js';
import type { Input } from './input.js';
import { CarsError } from '../errors.js';

export interface SourceRecord {
  kind: 'record';
  // (A CSV source's records are CsvRows: their values are decoded when read.)
  where: number | string;
  /** Aligned with `columns`; shorter or longer means the record has the wrong field count. */
  values: Array<string | undefined>;
}

export interface SourceMalformed {
  kind: 'malformed';
  where: number | string;
  error: string;
  raw: string;
  values?: Array<string | undefined>;
}

export type SourceItem = SourceRecord | SourceMalformed;

export interface RecordSource {
  name: string;
  columns: string[];
  /** Chunks of items, in input order. */
  items: AsyncIterable<SourceItem[]>;
  totalBytes: number | undefined;
  bytesRead(): number;
  /** Releases what the source holds (an HTTP client) and records its figures in the report. */
  close?(): Promise<void>;
}

/** CSV from a byte stream: the first non-empty record is the header. Its records are CsvRows. */
export async function csvSource(input: Input, delimiter: string): Promise<RecordSource> {
  const splitter = new CsvByteSplitter(delimiter);
  const it = input.stream[Symbol.asyncIterator]();
  let pending: CsvByteItem[] = [];
  let ended = false;

  async function next(): Promise<CsvByteItem[] | null> {
    if (ended) return null;
    const r = await it.next();
    if (r.done) {
      ended = true;
      return splitter.end();
    }
    return splitter.push(r.value);
  }

  // Read until the header record is complete.
  let header: CsvByteItem | undefined;
  while (!header) {
    const items = await next();
    if (items === null) break;
    if (items.length) {
      header = items[0];
      pending = items.slice(1);
    }
  }
  if (!header) throw new CarsError('INPUT_HEADER', `${input.name}: the input is empty; expected a header line naming the columns`);
  if (header.kind === 'malformed') {
    await it.return?.();
    throw new CarsError('INPUT_HEADER', `${input.name}: line ${header.line}: the header is not valid CSV (${header.error})`);
  }
  const columns = header.fields.map((f) => f.trim());

  // (CsvRow and the splitter's malformed items are SourceItems as they are.)
  async function* items(): AsyncGenerator<SourceItem[]> {
    try {
      if (pending.length) yield pending;
      for (;;) {
        const chunk = await next();
        if (chunk === null) return;
        if (chunk.length) yield chunk;
      }
    } finally {
      await it.return?.();
    }
  }
  const close = async () => {
    await it.return?.(); // the file, when the items were never read to the end
  };
  return { name: input.name, columns, items: items(), totalBytes: input.totalBytes, bytesRead: input.bytesRead, close };
}
