// Sources of records for import: each yields the input's column names and, chunk by chunk, its
// records with their provenance (a line number, or a page URL and index).
import { CsvByteSplitter, MAX_RECORD_BYTES, type CsvByteItem } from './csv-records.js';
import { decodeInput, type EncodingOption, type TextFacts } from './encoding.js';
import type { ColumnMap } from './column-map.js';
import { inPieces, type Input } from './input.js';
import { CarsError } from '../errors.js';
import type { Validators } from '../http/client.js';

/** What a URL's source says about its feed. */
export interface FeedFacts {
  /** A paginated JSON feed (it can resume). */
  paged: boolean;
  /** The server answered 304 Not Modified: nothing to read. */
  notModified: boolean;
  /** The first answer's ETag / Last-Modified (the first page's, for a paginated feed). */
  validators?: Validators;
}


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
  /** A CSV's header line (1, or 2 after a `sep=` line). */
  headerLine?: number;
  /** How the bytes were read, for the report. */
  text?: TextFacts;
  /** How JSON keys were mapped to car columns (JSON sources; a CSV's header is mapped by the importer). */
  columnMap?: ColumnMap;
  /** A URL's: paginated or not, not modified (304), its validators. */
  feed?: FeedFacts;
}



export interface CsvOptions {
  /** One character, or 'auto' (the default): `,` `;` tab or `|`, whichever the header line has most of. */
  delimiter?: string;
  encoding?: EncodingOption;
  strictQuotes?: boolean;
  /** A longer record is rejected (its first few KB kept) and the rest of its line skipped. */
  maxRecordBytes?: number;
  /** Take a last line without a line break as it is, even from stdin or a pipe. */
  acceptUnterminated?: boolean;
  /** The columns of a file without a header row (`--columns`): its first line is data. */
  columns?: string[];
}

/** How a CSV is read from the options: `.tsv` (or a hint from the Content-Type) means tab unless --delimiter says otherwise. */
export function csvOptions(source: string, o: CsvOptions, hinted?: string): CsvOptions {
  const delimiter = o.delimiter && o.delimiter !== 'auto' ? o.delimiter : (hinted ?? (/\.tsv(\.gz)?$/i.test(source) ? '\t' : 'auto'));
  return { delimiter, encoding: o.encoding ?? 'auto', strictQuotes: o.strictQuotes, maxRecordBytes: o.maxRecordBytes, acceptUnterminated: o.acceptUnterminated, columns: o.columns };
}

/** The delimiters `auto` chooses from, in the order that wins a tie. */
export const AUTO_DELIMITERS = [',', ';', '\t', '|'];

/** The delimiter a header line uses most (outside quotes); ',' when it has none of them. */
export function chooseDelimiter(line: Buffer): string {
  const counts = AUTO_DELIMITERS.map(() => 0);
  const codes = AUTO_DELIMITERS.map((d) => d.charCodeAt(0));
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const b = line[i];
    if (b === 34) quoted = !quoted;
    else if (!quoted) {
      const k = codes.indexOf(b);
      if (k >= 0) counts[k]++;
    }
  }
  let best = 0;
  for (let k = 1; k < counts.length; k++) if (counts[k] > counts[best]) best = k;
  return AUTO_DELIMITERS[best];
}

const SEP_LINE = /^sep=(.)$/i;

interface Start {
  /** Every byte read so far. */
  head: Buffer;
  /** Where the first non-empty line starts in `head`, where its text ends (before CR LF), and where the next line starts. */
  lineStart: number;
  textEnd: number;
  lineEnd: number;
  done: boolean;
}

/** The CSV's start, read until its first non-empty line is complete (a header longer than the record limit is not one). */
async function readStart(it: AsyncIterator<Buffer>): Promise<Start> {
  const parts: Buffer[] = [];
  let size = 0;
  let done = false;
  for (;;) {
    const head = parts.length === 1 ? parts[0] : Buffer.concat(parts, size);
    for (let from = 0; from < head.length; ) {
      // LF, CR LF or a lone CR ends a line (a CR last in what has arrived may be half of CR LF).
      const lf = head.indexOf(10, from);
      const cr = head.indexOf(13, from);
      const eol = cr !== -1 && (lf === -1 || cr < lf) ? cr : lf;
      if ((eol === -1 || (eol === cr && eol + 1 >= head.length)) && !done) break;
      const end = eol === -1 ? head.length : eol;
      const next = eol === -1 ? end : eol + (eol === cr && head[eol + 1] === 10 ? 2 : 1);
      if (end > from) return { head, lineStart: from, textEnd: end, lineEnd: next, done };
      from = next;
    }
    if (done || size > MAX_RECORD_BYTES) return { head, lineStart: 0, textEnd: 0, lineEnd: 0, done };
    const r = await it.next();
    if (r.done) done = true;
    else {
      parts.push(r.value);
      size += r.value.length;
    }
  }
}

/** Where a CSV's records start: its delimiter, and after an Excel `sep=X` line, the bytes and line number that follow it. */
function recordsStart(start: Start, wanted: string | undefined): { delimiter: string; body: Buffer; firstLine: number } {
  const line = start.head.subarray(start.lineStart, start.textEnd);
  const sep = SEP_LINE.exec(line.toString('latin1'));
  if (!sep) return { delimiter: wanted ?? chooseDelimiter(line), body: start.head, firstLine: 1 };
  let breaks = 0;
  for (let i = 0; i < start.lineEnd; i++) if (start.head[i] === 10 || (start.head[i] === 13 && start.head[i + 1] !== 10)) breaks++;
  return { delimiter: wanted ?? sep[1], body: start.head.subarray(start.lineEnd), firstLine: breaks + 1 };
}

/**
 * The splitter's items chunk by chunk: the bytes read to find the start first, then the rest of
 * the input, then `ending()`; null once that has been returned.
 */
function chunksOf(it: AsyncIterator<Buffer>, start: Start, body: Buffer, splitter: CsvByteSplitter, ending: () => CsvByteItem[]): () => Promise<CsvByteItem[] | null> {
  let ended = false;
  let startBytes: Buffer | undefined = body;
  return async () => {
    if (startBytes) {
      const b = startBytes;
      startBytes = undefined;
      if (b.length) return splitter.push(b);
    }
    if (ended) return null;
    const r = start.done ? undefined : await it.next();
    if (r === undefined || r.done) {
      ended = true;
      return ending();
    }
    return splitter.push(r.value);
  };
}

/** Reads until the header record is complete: its columns, its line, and the items read after it. */
async function readHeader(next: () => Promise<CsvByteItem[] | null>, name: string): Promise<{ columns: string[]; line: number; pending: CsvByteItem[] }> {
  for (;;) {
    const items = await next();
    if (items === null) throw new CarsError('INPUT_HEADER', `${name}: the input is empty; expected a header line naming the columns (or name them with --columns)`);
    if (!items.length) continue;
    const header = items[0];
    if (header.kind === 'malformed') throw new CarsError('INPUT_HEADER', `${name}: line ${header.line}: the header is not valid CSV (${header.error})`);
    return { columns: header.fields.map((f) => f.trim()), line: header.line, pending: items.slice(1) };
  }
}

/**
 * CSV from a byte stream: the first non-empty record is the header. Its records are CsvRows. The
 * bytes are decoded to UTF-8 first (see encoding.ts); a first line `sep=X` (Excel's) names the
 * delimiter and is not a record, and line numbers stay the file's own.
 */
export async function csvSource(raw: Input, opts: CsvOptions | string = {}): Promise<RecordSource> {
  const o: CsvOptions = typeof opts === 'string' ? { delimiter: opts, encoding: 'utf-8' } : opts;
  const { input, facts } = decodeInput(raw, o.encoding ?? 'auto');
  const it = inPieces(input.stream)[Symbol.asyncIterator]();
  const start = await readStart(it);
  const { delimiter, body, firstLine } = recordsStart(start, o.delimiter && o.delimiter !== 'auto' ? o.delimiter : undefined);
  if (Buffer.byteLength(delimiter) !== 1) throw new CarsError('USAGE', `${input.name}: the delimiter ${JSON.stringify(delimiter)} is not one ASCII character`);
  const splitter = new CsvByteSplitter(delimiter, o.maxRecordBytes ?? MAX_RECORD_BYTES, { strictQuotes: o.strictQuotes, firstLine });
  /** The end of the input: a last record without a line break from a source that may have been cut is not taken. */
  const ending = (): CsvByteItem[] => {
    const last = splitter.end();
    const r = last[last.length - 1];
    if (r !== undefined && r.kind === 'record' && splitter.unterminated && raw.mayBeCut && !o.acceptUnterminated) {
      last[last.length - 1] = {
        kind: 'malformed',
        line: r.line,
        where: r.line,
        error: `possibly cut: ${input.name} ended in the middle of this line (no line break after it); if the line is complete, run again with --accept-unterminated`,
        raw: r.fields.join(delimiter),
        values: r.fields,
      };
    }
    return last;
  };
  const next = chunksOf(it, start, body, splitter, ending);

  // Without a header row, the columns are named by the option and the first line is data.
  const header = o.columns
    ? { columns: o.columns, line: undefined, pending: [] }
    : await readHeader(next, input.name).catch(async (e: unknown) => {
        await it.return?.(undefined);
        throw e;
      });
  const { columns, pending } = header;

  // (CsvRow and the splitter's malformed items are SourceItems as they are.)
  async function* items(): AsyncGenerator<SourceItem[]> {
    try {
      if (pending.length) yield pending;
      for (;;) {
        const chunk = await next();
        if (chunk === null) return;
        // Empty too (blank lines, a long line being skipped): the reader checks for an interrupt between chunks.
        yield chunk;
      }
    } finally {
      await it.return?.(undefined);
    }
  }
  const close = async () => {
    await it.return?.(undefined); // the file, when the items were never read to the end
  };
  return {
    name: input.name,
    columns,
    items: items(),
    totalBytes: input.totalBytes,
    bytesRead: input.bytesRead,
    close,
    headerLine: header.line,
    text: Object.assign(facts, { delimiter }),
  };
}
