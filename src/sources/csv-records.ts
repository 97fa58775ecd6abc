// RFC 4180 records from a stream of text, each with the physical line it starts on.
//
// Why not csv-parse's own error recovery: after a quote error, `skip_records_with_error`
// resynchronizes at the next quote it finds, which swallows every line in between (with the
// fixture test/fixtures malformed.csv it swallowed all 8 lines after an unclosed quote, see the
// README). Here a malformed record rejects exactly the physical line it started on, and parsing
// restarts on the next line, so no line is ever lost: each is in a record or in a rejection.
// It is also faster (1M rows: ~1 s against ~6 s for csv-parse in array mode on these machines).

import { isUtf8 } from 'node:buffer';
import { firstInvalidByte, singleByteToUtf8 } from './encoding.js';

/** A record of the byte splitter: its fields stay bytes in the input until asked for. */
export class CsvRow {
  readonly kind = 'record';
  constructor(
    /** The physical line the record starts on. */
    readonly line: number,
    readonly buf: Buffer,
    /**
     * Per field, its start and end in `buf`; a quoted field's are those of the text inside its
     * quotes, with its start stored as ~start (negative), since its "" still stand for ".
     */
    readonly bounds: Int32Array,
    /** Where this record's fields begin in `bounds` (two entries per field). */
    readonly at: number,
    readonly count: number,
  ) {}

  get where(): number {
    return this.line;
  }

  /** The fields as text. */
  get fields(): string[] {
    const out = new Array<string>(this.count);
    for (let f = 0; f < this.count; f++) out[f] = this.field(f);
    return out;
  }

  get values(): string[] {
    return this.fields;
  }

  /** Where the record's bytes start and end in `buf` (its first field's start, its last field's end). */
  private span(): [number, number] {
    if (this.count === 0) return [0, 0];
    const s = this.bounds[this.at];
    return [s < 0 ? ~s - 1 : s, this.bounds[this.at + 2 * this.count - 1] + (this.bounds[this.at + 2 * this.count - 2] < 0 ? 1 : 0)];
  }

  /** Whether every field is valid UTF-8 (else decoding would put U+FFFD in place of the bad bytes). */
  isUtf8(): boolean {
    const [s, e] = this.span();
    return isUtf8(this.buf.subarray(s, e));
  }

  /** The first byte that is not UTF-8, or -1. */
  firstInvalidByte(): number {
    const [s, e] = this.span();
    return firstInvalidByte(this.buf, s, e);
  }

  /** The fields decoded as a single-byte encoding (a record that is not UTF-8, for the rejects file). */
  fieldsAs(encoding: 'windows-1252' | 'iso-8859-1'): string[] {
    const out = new Array<string>(this.count);
    for (let f = 0; f < this.count; f++) {
      const s = this.bounds[this.at + 2 * f];
      const e = this.bounds[this.at + 2 * f + 1];
      const t = singleByteToUtf8(this.buf.subarray(s < 0 ? ~s : s, e), encoding).toString('utf8');
      out[f] = s < 0 && t.indexOf('"') !== -1 ? t.replace(/""/g, '"') : t;
    }
    return out;
  }

  field(f: number): string {
    const s = this.bounds[this.at + 2 * f];
    const e = this.bounds[this.at + 2 * f + 1];
    if (s >= 0) return this.buf.toString('utf8', s, e);
    const t = this.buf.toString('utf8', ~s, e);
    return t.indexOf('"') === -1 ? t : t.replace(/""/g, '"');
  }
}

export interface CsvMalformed {
  kind: 'malformed';
  line: number;
  where: number;
  error: string;
  /** The physical line the broken record started on, as written. */
  raw: string;
  /** Its fields, when it was split but refused as a whole (a last line possibly cut). */
  values?: string[];
}

export type CsvByteItem = CsvRow | CsvMalformed;

const QUOTE = 34;
const LF = 10;
const CR = 13;
const EMPTY = Buffer.alloc(0);

/** A quoted field that runs past this many bytes is taken as an unclosed quote. */
export const MAX_RECORD_BYTES = 1 << 20;

/**
 * Splits CSV bytes into records. It works on the bytes as read, not on decoded text: the
 * delimiter, quotes, CR and LF are ASCII, and UTF-8 never uses an ASCII byte inside another
 * character, so where the records and fields are is the same in both; a field becomes text only
 * when asked for. (Decoded first, 1M rows made 9M strings for the collector, and the importer's
 * own encoder then turned most of them back into bytes.) A UTF-8 byte order mark is skipped.
 */
export interface SplitterOptions {
  /** A quote inside an unquoted field is an error (RFC 4180) instead of a character (Excel, Python's csv). */
  strictQuotes?: boolean;
  /** The line number of the first byte pushed (2 after a `sep=` line that was taken off). */
  firstLine?: number;
}

export class CsvByteSplitter {
  private buf: Buffer = EMPTY;
  private pos = 0;
  private line = 1;
  private bomChecked = false;
  private readonly delim: number;
  private readonly maxRecord: number;
  private readonly strictQuotes: boolean;
  /** Field bounds of the records of the current push (a new array for each). */
  private bounds = new Int32Array(1024);
  private used = 0;
  /** Inside a record already rejected as too long: bytes are dropped up to the end of its line. */
  private skipping = false;
  /** The last record ended with the input, not with a line break (see `unterminated`). */
  private endedOpen = false;

  constructor(delimiter = ',', maxRecordBytes = MAX_RECORD_BYTES, opts: SplitterOptions = {}) {
    const d = Buffer.from(delimiter, 'utf8');
    if (delimiter.length !== 1 || d.length !== 1) throw new Error('delimiter must be one ASCII character');
    this.delim = d[0];
    this.maxRecord = maxRecordBytes;
    this.strictQuotes = !!opts.strictQuotes;
    this.line = opts.firstLine ?? 1;
  }

  /**
   * Feeds bytes (which must not change afterwards: records point into them); returns the items
   * that are complete. What is held between pushes is at most one record of up to the record
   * limit: a longer one is rejected as soon as it passes the limit, and the rest of its line is
   * dropped as it comes, so the work is linear in the input and the memory bounded.
   */
  push(chunk: Buffer, out: CsvByteItem[] = []): CsvByteItem[] {
    if (this.skipping) {
      const end = lineBreak(chunk, 0);
      if (end === -1) return out; // still inside the long line
      this.skipping = false;
      chunk = chunk.subarray(end); // the line break itself ends the rejected line (an empty line)
      this.bomChecked = true;
    }
    this.buf = this.pos < this.buf.length ? Buffer.concat([this.buf.subarray(this.pos), chunk]) : chunk;
    this.pos = 0;
    this.drain(false, out);
    if (this.buf.length - this.pos > this.maxRecord) this.cut(out);
    return out;
  }

  /** Ends the input; returns the last items. */
  end(out: CsvByteItem[] = []): CsvByteItem[] {
    this.endedOpen = false;
    if (!this.skipping) this.drain(true, out);
    this.skipping = false;
    this.buf = EMPTY;
    this.pos = 0;
    return out;
  }

  /** Whether the last record ended with the input, without a line break after it (cut short, maybe). */
  get unterminated(): boolean {
    return this.endedOpen;
  }

  /** The record at this.pos passed the limit: rejected with its first few KB, the rest of its line dropped. */
  private cut(out: CsvByteItem[]): void {
    const start = this.pos;
    const raw = this.buf.toString('utf8', start, Math.min(this.buf.length, start + RAW_KEPT));
    out.push({
      kind: 'malformed',
      line: this.line,
      where: this.line,
      error: `malformed CSV: the record is longer than ${this.maxRecord} bytes (--max-record-bytes); the rest of its line was skipped, and the rejects file keeps its first ${RAW_KEPT} bytes (truncated)`,
      raw,
    });
    const end = lineBreak(this.buf, start + this.maxRecord);
    if (end === -1) {
      this.skipping = true;
      this.buf = EMPTY;
      this.pos = 0;
    } else {
      this.pos = end; // the line break is read as an empty line, which counts the line
      this.drain(false, out);
    }
  }

  private drain(final: boolean, out: CsvByteItem[]): void {
    if (!this.bomChecked) {
      const b = this.buf;
      if (b.length < 3 && !final && (b.length === 0 || b[0] === 0xef) && (b.length < 2 || b[1] === 0xbb)) return;
      if (b.length >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) this.pos = 3;
      this.bomChecked = true;
    }
    // Sized by the last push's records, not the largest ever: one line of a million fields would
    // otherwise make every later push allocate for a million.
    this.bounds = new Int32Array(Math.max(1024, this.used + (this.used >> 2)));
    this.used = 0;
    while (this.pos < this.buf.length) {
      if (!this.one(final, out)) return;
    }
  }

  private field(start: number, end: number): void {
    if (this.used + 2 > this.bounds.length) {
      const next = new Int32Array(this.bounds.length * 2);
      next.set(this.bounds.subarray(0, this.used));
      this.bounds = next; // records already out keep the array they were given
    }
    this.bounds[this.used++] = start;
    this.bounds[this.used++] = end;
  }

  /** Parses one record at this.pos. Returns false when it needs more input. */
  private one(final: boolean, out: CsvByteItem[]): boolean {
    const buf = this.buf;
    const n = buf.length;
    const delim = this.delim;
    const start = this.pos;
    let i = start;
    // An empty line (LF, CRLF or a lone CR) is skipped.
    const c0 = buf[i];
    if (c0 === LF) {
      this.pos = i + 1;
      this.line++;
      return true;
    }
    if (c0 === CR) {
      if (i + 1 >= n && !final) return false; // an LF may follow
      this.pos = i + (buf[i + 1] === LF ? 2 : 1);
      this.line++;
      return true;
    }
    const first = this.used;
    let extraLines = 0;
    for (;;) {
      if (buf[i] === QUOTE) {
        // Quoted field: runs to the next quote that is not doubled.
        const from = i + 1;
        let j = from;
        for (;;) {
          const k = buf.indexOf(QUOTE, j);
          if (k === -1) {
            this.used = first;
            if (!final && n - start <= this.maxRecord) return false;
            return this.malformed(start, final, 'unclosed quote', out);
          }
          if (k + 1 >= n && !final) {
            this.used = first;
            return false; // cannot tell "" from a closing quote yet
          }
          if (buf[k + 1] === QUOTE) {
            j = k + 2;
            continue;
          }
          i = k + 1;
          this.field(~from, k);
          extraLines += lineBreaks(buf, from, k);
          break;
        }
        if (i - start > this.maxRecord) {
          this.used = first;
          return this.malformed(start, final, 'unclosed quote', out);
        }
        const c = buf[i];
        if (i >= n) {
          if (!final) {
            this.used = first;
            return false;
          }
          return this.emit(first, i, extraLines, out, true);
        }
        if (c === delim) {
          i++;
          continue;
        }
        if (c === LF) return this.emit(first, i + 1, extraLines, out);
        if (c === CR) {
          if (i + 1 >= n && !final) {
            this.used = first;
            return false;
          }
          return this.emit(first, i + (buf[i + 1] === LF ? 2 : 1), extraLines, out);
        }
        // A "closing" quote lines later is most likely the opening quote of another field.
        this.used = first;
        return this.malformed(start, final, extraLines > 0 ? 'unclosed quote' : 'unexpected text after a closing quote', out);
      }
      // Unquoted field: runs to the delimiter or the end of the line. A quote in it (17" Alloys) is
      // a character, as Excel and Python's csv read it, unless the quotes are strict.
      const quoteStops = this.strictQuotes ? QUOTE : delim;
      let j = i;
      let c = 0;
      for (; j < n; j++) {
        c = buf[j];
        if (c === delim || c === LF || c === CR || c === quoteStops) break;
      }
      if (j >= n) {
        if (!final) {
          this.used = first;
          return false;
        }
        this.field(i, j);
        return this.emit(first, j, extraLines, out, true);
      }
      if (this.strictQuotes && c === QUOTE) {
        this.used = first;
        return this.malformed(start, final, 'stray quote inside an unquoted field (without --strict-quotes it would be kept as a character)', out);
      }
      if (c === CR && j + 1 >= n && !final) {
        this.used = first;
        return false;
      }
      this.field(i, j);
      if (c === delim) {
        i = j + 1;
        continue;
      }
      return this.emit(first, j + (c === CR && buf[j + 1] === LF ? 2 : 1), extraLines, out);
    }
  }

  private emit(first: number, next: number, extraLines: number, out: CsvByteItem[], open = false): boolean {
    out.push(new CsvRow(this.line, this.buf, this.bounds, first, (this.used - first) >> 1));
    this.line += 1 + extraLines;
    this.pos = next;
    this.endedOpen = open;
    return true;
  }

  /** Rejects the physical line the record started on and restarts on the next line. */
  private malformed(start: number, final: boolean, error: string, out: CsvByteItem[]): boolean {
    const buf = this.buf;
    const eol = lineBreak(buf, start);
    // A CR at the end of what has arrived may be the first half of CR LF.
    if ((eol === -1 || (buf[eol] === CR && eol + 1 >= buf.length)) && !final) return false;
    const end = eol === -1 ? buf.length : eol;
    const raw = buf.toString('utf8', start, Math.min(end, start + RAW_KEPT));
    out.push({ kind: 'malformed', line: this.line, where: this.line, error: `malformed CSV: ${error}`, raw });
    this.line++;
    this.pos = eol === -1 ? buf.length : eol + (buf[eol] === CR && buf[eol + 1] === LF ? 2 : 1);
    return true;
  }
}

/** How much of a rejected record's text the rejects file keeps. */
const RAW_KEPT = 4096;

/** Where the first line break (LF or CR) at or after `from` is, or -1. */
function lineBreak(buf: Buffer, from: number): number {
  const lf = buf.indexOf(LF, from);
  const cr = buf.indexOf(CR, from);
  return cr !== -1 && (lf === -1 || cr < lf) ? cr : lf;
}

/** Line breaks between `from` and `to` (LF, CR LF and a lone CR each count one). */
function lineBreaks(buf: Buffer, from: number, to: number): number {
  let n = 0;
  for (let at = buf.indexOf(LF, from); at !== -1 && at < to; at = buf.indexOf(LF, at + 1)) n++;
  for (let at = buf.indexOf(CR, from); at !== -1 && at < to; at = buf.indexOf(CR, at + 1)) if (buf[at + 1] !== LF) n++;
  return n;
}

export interface CsvRecord {
  kind: 'record';
  line: number;
  fields: string[];
}

export type CsvItem = CsvRecord | CsvMalformed;

/** The splitter for text already decoded (tests, and lists read back whole). */
export class CsvSplitter {
  private readonly bytes: CsvByteSplitter;

  constructor(delimiter = ',', maxRecordBytes = MAX_RECORD_BYTES, opts: SplitterOptions = {}) {
    this.bytes = new CsvByteSplitter(delimiter, maxRecordBytes, opts);
  }

  push(text: string, out: CsvItem[] = []): CsvItem[] {
    return this.plain(this.bytes.push(Buffer.from(text, 'utf8')), out);
  }

  end(out: CsvItem[] = []): CsvItem[] {
    return this.plain(this.bytes.end(), out);
  }

  private plain(items: CsvByteItem[], out: CsvItem[]): CsvItem[] {
    for (const it of items) out.push(it.kind === 'record' ? { kind: 'record', line: it.line, fields: it.fields } : it);
    return out;
  }
}

/** Writes one CSV field: quoted when it holds the delimiter, a quote, CR or LF. */
export function csvField(v: string | null | undefined, delimiter = ','): string {
  if (v == null) return '';
  if (v.includes(delimiter) || v.includes('"') || v.includes('\n') || v.includes('\r')) return `"${v.replace(/"/g, '""')}"`;
  return v;
}
