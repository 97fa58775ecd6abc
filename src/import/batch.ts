// A batch of valid rows waiting for their write, held as bytes: each row's line of COPY text and
// its original fields. Millions of rows pass through an import; kept as JavaScript objects, every
// row of a batch outlived a few young-generation collections and was promoted, and collecting the
// old generation cost the import as much time as parsing (1M rows: 3.1 s of garbage collection
// in 6.4 s of work). Bytes in a few reused buffers cost the collector nothing.
import { copyValue } from './copy-text.js';
import type { CarRow } from '../car.js';
import type { CsvRow } from '../sources/csv-records.js';
import { putDecimal, type RowEncoder } from './row-encoder.js';

/** Separates a row's original fields in its record (US, 0x1f: not in any text a CSV carries). */
export const FIELD_SEP = '\x1f';
const FIELD_SEP_BYTE = FIELD_SEP.charCodeAt(0);

const INITIAL_BYTES = 1 << 16;
/**
 * A batch's COPY text goes out in pieces this large, so a default batch (about 0.5 MB) is one
 * write: fed 64 KB at a time, each piece waited for the event loop, which the parser kept busy,
 * and the server idled through 40 ms of a 220 ms batch.
 */
const CHUNK_BYTES = 1 << 22;

/** A growable byte store: strings appended as UTF-8, each one's end remembered. */
class Bytes {
  buf = Buffer.allocUnsafe(INITIAL_BYTES);
  len = 0;
  ends: number[] = [];

  push(s: string): void {
    // A UTF-16 code unit is at most 3 bytes of UTF-8.
    if (this.len + s.length * 3 > this.buf.length) this.grow(this.len + s.length * 3);
    this.len += this.buf.write(s, this.len);
    this.ends.push(this.len);
  }

  /** Appends `ord`, a TAB and the encoder's line, as one entry. */
  pushLine(ord: number, enc: RowEncoder): void {
    if (this.len + enc.length + 16 > this.buf.length) this.grow(this.len + enc.length + 16);
    const buf = this.buf;
    this.len = putDecimal(buf, this.len, ord);
    buf[this.len++] = 9;
    this.len += enc.out.copy(buf, this.len, 0, enc.length);
    this.ends.push(this.len);
  }

  /** Appends a CSV record's fields as text, separated by FIELD_SEP, as one entry. */
  pushFields(r: CsvRow): void {
    const b = r.bounds;
    const first = b[r.at] < 0 ? ~b[r.at] : b[r.at];
    const span = b[r.at + 2 * r.count - 1] - first + r.count;
    if (this.len + span > this.buf.length) this.grow(this.len + span);
    const src = r.buf;
    const buf = this.buf;
    let len = this.len;
    for (let f = 0; f < r.count; f++) {
      if (f > 0) buf[len++] = FIELD_SEP_BYTE;
      const s = b[r.at + 2 * f];
      const e = b[r.at + 2 * f + 1];
      if (s >= 0) {
        for (let i = s; i < e; i++) buf[len++] = src[i];
      } else {
        // Inside quotes, "" stands for one quote.
        for (let i = ~s; i < e; i++) {
          buf[len++] = src[i];
          if (src[i] === 34) i++;
        }
      }
    }
    this.len = len;
    this.ends.push(len);
  }

  start(i: number): number {
    return i === 0 ? 0 : this.ends[i - 1];
  }

  private grow(need: number): void {
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  clear(): void {
    this.len = 0;
    this.ends.length = 0;
  }
}

/** One COPY line for cars_staging; only brand, model and color can hold what COPY must escape. */
export function stagingLine(ord: number, r: CarRow): string {
  const mileage = r.mileage === null ? '\\N' : r.mileage;
  const color = r.color === null ? '\\N' : copyValue(r.color);
  const listed = r.listed_at === null ? '\\N' : r.listed_at;
  return `${ord}\t${r.vin}\t${copyValue(r.brand)}\t${copyValue(r.model)}\t${r.year}\t${r.price}\t${mileage}\t${r.condition}\t${color}\t${listed}\n`;
}

/** The rows of a batch; a range of one (for isolating refused rows) shares its bytes. */
export interface BatchRows {
  readonly length: number;
  /** Whether two rows may share a VIN: then the merge must pick the later one (a sort). */
  readonly mayRepeatVins: boolean;
  /** The rows' COPY text, in chunks. */
  copyChunks(): Generator<Buffer>;
  /** Where row i came from: a line number, or a page and index. */
  where(i: number): number | string;
  /** Row i's original fields, for the rejects file. */
  fields(i: number): string[];
  /** Rows [from, to) of these. */
  range(from: number, to: number): BatchRows;
}

export class RowBatch implements BatchRows {
  private readonly copy = new Bytes();
  private readonly orig = new Bytes();
  private readonly wheres: Array<number | string> = [];
  /**
   * Hashes of the VINs so far (30 bits of them, plus one so that 0 means empty), open addressing:
   * a repeat means the VIN may repeat. (A typed array: a Set of numbers cost 5% of the importer's CPU.)
   */
  private keys = new Int32Array(1024);
  private used = 0;
  private repeats = false;

  /** `capacity`: rows at which the batch is full (and handed to its writer). */
  constructor(readonly capacity = Infinity) {}

  get length(): number {
    return this.wheres.length;
  }

  get full(): boolean {
    return this.wheres.length >= this.capacity;
  }

  get mayRepeatVins(): boolean {
    return this.repeats;
  }

  /** Adds a valid row; `vinHash` is a hash of its VIN (fnv1a, which also picks its writer lane). */
  add(ord: number, where: number | string, row: CarRow, fields: Array<string | undefined>, vinHash: number): void {
    this.copy.push(stagingLine(ord, row));
    this.orig.push(fields.join(FIELD_SEP));
    this.wheres.push(where);
    this.noteVin(vinHash);
  }

  /** Adds a row of a CSV record that the RowEncoder has just encoded (its hash is the encoder's). */
  addEncoded(ord: number, r: CsvRow, enc: RowEncoder): void {
    this.copy.pushLine(ord, enc);
    this.orig.pushFields(r);
    this.wheres.push(r.line);
    this.noteVin(enc.vinHash);
  }

  private growKeys(): void {
    const old = this.keys;
    this.keys = new Int32Array(old.length * 2);
    this.used = 0;
    const repeats = this.repeats;
    for (const k of old) if (k !== 0) this.noteVin(k - 1);
    this.repeats = repeats;
  }

  private noteVin(vinHash: number): void {
    const key = vinHash & 0x3fffffff;
    if (2 * (this.used + 1) > this.keys.length) this.growKeys();
    const mask = this.keys.length - 1;
    for (let i = key & mask; ; i = (i + 1) & mask) {
      const k = this.keys[i];
      if (k === 0) {
        this.keys[i] = key + 1;
        this.used++;
        return;
      }
      if (k === key + 1) {
        this.repeats = true;
        return;
      }
    }
  }

  /** Empties the batch for reuse; its buffers stay. */
  clear(): void {
    this.copy.clear();
    this.orig.clear();
    this.wheres.length = 0;
    if (this.used) this.keys.fill(0);
    this.used = 0;
    this.repeats = false;
  }

  copyChunks(): Generator<Buffer> {
    return this.copyRange(0, this.length);
  }

  *copyRange(from: number, to: number): Generator<Buffer> {
    const end = to === 0 ? 0 : this.copy.ends[to - 1];
    for (let at = this.copy.start(from); at < end; ) {
      // Whole lines are not needed: COPY's input is a byte stream.
      const next = Math.min(at + CHUNK_BYTES, end);
      yield this.copy.buf.subarray(at, next);
      at = next;
    }
  }

  where(i: number): number | string {
    return this.wheres[i];
  }

  fields(i: number): string[] {
    return this.orig.buf.toString('utf8', this.orig.start(i), this.orig.ends[i]).split(FIELD_SEP);
  }

  range(from: number, to: number): BatchRows {
    return new BatchRange(this, from, to);
  }
}

class BatchRange implements BatchRows {
  constructor(
    private readonly batch: RowBatch,
    private readonly from: number,
    private readonly to: number,
  ) {}

  get length(): number {
    return this.to - this.from;
  }

  get mayRepeatVins(): boolean {
    return this.batch.mayRepeatVins;
  }

  copyChunks(): Generator<Buffer> {
    return this.batch.copyRange(this.from, this.to);
  }

  where(i: number): number | string {
    return this.batch.where(this.from + i);
  }

  fields(i: number): string[] {
    return this.batch.fields(this.from + i);
  }

  range(from: number, to: number): BatchRows {
    return new BatchRange(this.batch, this.from + from, this.from + to);
  }
}
