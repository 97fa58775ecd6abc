// The importer's fast path: a CSV record's car straight from its bytes to its line of COPY text,
// with no string made on the way. It takes only what it can decide alone, which is nearly every
// row of a dealer export: plain fields, a date for listed_at, ASCII at both ends of each text.
// Anything else (an error, a timestamp, a value it would have to decode to judge) it leaves to
// validateFields, which remains the one definition of what is valid: for every record this takes,
// it writes exactly stagingLine(validateFields(...)) (a test compares both on many rows).
import { isUtf8 } from 'node:buffer';
import type { CsvRow } from '../sources/csv-records.js';
import { MAX_MILEAGE, MAX_TEXT_CHARS, MIN_YEAR, PRICE_LIMIT_DIGITS, VIN_BYTE } from '../car.js';

const TAB = 9;
const LF = 10;
const CR = 13;
const QUOTE = 34;
const BACKSLASH = 92;
const DASH = 45;
const DOT = 46;
const COLON = 58;
const COMMA = 44;

/** The whitespace String.prototype.trim removes that is ASCII (the rest is not ASCII). */
const SPACE = new Uint8Array(256);
for (const c of [9, 10, 11, 12, 13, 32]) SPACE[c] = 1;
/**
 * The characters beyond ASCII that String.prototype.trim removes (JavaScript's \s); a test checks
 * this list against trim() for every character of the BMP. All of them are 2 or 3 bytes of UTF-8.
 */
export const WIDE_SPACES: readonly number[] = [0xa0, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000, 0xfeff];
const WIDE_SPACE = new Set(WIDE_SPACES);

/**
 * Whether the character whose UTF-8 starts at buf[i] (not ASCII) is one trim() keeps; false also
 * when it is not a well-formed 2- or 3-byte character, which the full path then judges.
 */
function keptByTrim(buf: Buffer, i: number, end: number): boolean {
  const b = buf[i];
  if (b >= 0xf0 && b < 0xf5) return true; // 4 bytes: beyond the BMP, where no space is
  let cp: number;
  if (b >= 0xc2 && b < 0xe0 && i + 1 < end) cp = ((b & 0x1f) << 6) | (buf[i + 1] & 0x3f);
  else if (b >= 0xe0 && b < 0xf0 && i + 2 < end) cp = ((b & 0x0f) << 12) | ((buf[i + 1] & 0x3f) << 6) | (buf[i + 2] & 0x3f);
  else return false;
  return !WIDE_SPACE.has(cp);
}

const DAYS_IN_MONTH = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const NULL = [BACKSLASH, 78]; // \N
const CONDITIONS = ['available', 'sold', 'reserved'].map((c) => Buffer.from(c));

/** Writes a non-negative integer in decimal at buf[at]; returns where it ends. */
export function putDecimal(buf: Buffer, at: number, v: number): number {
  let digits = 1;
  for (let x = v; x >= 10; x = Math.floor(x / 10)) digits++;
  const end = at + digits;
  let i = end;
  do {
    buf[--i] = 48 + (v % 10);
    v = Math.floor(v / 10);
  } while (v > 0);
  return end;
}

/** The car columns' positions in the input's records (CAR_COLUMNS order); -1 for an absent one. */
export type ColumnPositions = readonly number[];

export class RowEncoder {
  /** The COPY text of the last row encoded, without its ord: vin TAB brand ... listed_at LF. */
  readonly out = Buffer.allocUnsafe(4096);
  /** Its length in `out`. */
  length = 0;
  /** fnv1a of its VIN, as fnv1a(row.vin) gives it (which picks the row's writer lane). */
  vinHash = 0;
  private buf: Buffer = this.out;
  /** Fields a record must have for every position in `columns` to be in it. */
  private readonly fieldsNeeded: number;
  private s = 0;
  private e = 0;
  private quoted = false;

  /** The byte of the decimal mark prices are written with ('.' or ','). */
  private readonly mark: number;

  constructor(
    private readonly columns: ColumnPositions,
    private readonly maxYear: number,
    decimal: '.' | ',' = '.',
  ) {
    this.fieldsNeeded = Math.max(...columns) + 1;
    this.mark = decimal === ',' ? COMMA : DOT;
  }

  /**
   * Encodes the record's car into `out`: true when done, false when the record is for
   * validateFields to judge (it may be valid all the same).
   */
  encode(r: CsvRow): boolean {
    if (r.count < this.fieldsNeeded) return false; // (the importer rejects it for its field count)
    this.buf = r.buf;
    this.length = 0;
    return (
      this.vin(r) &&
      this.text(r, 1, true) &&
      this.text(r, 2, true) &&
      this.year(r) &&
      this.price(r) &&
      this.mileage(r) &&
      this.condition(r) &&
      this.text(r, 7, false) &&
      this.listedAt(r)
    );
  }

  /** Selects car column `c` of the record, trimmed of ASCII whitespace; false when it cannot be judged here. */
  private select(r: CsvRow, c: number): boolean {
    const f = this.columns[c];
    if (f < 0) {
      this.s = this.e = 0;
      this.quoted = false;
      return true;
    }
    let s = r.bounds[r.at + 2 * f];
    let e = r.bounds[r.at + 2 * f + 1];
    this.quoted = s < 0;
    if (s < 0) s = ~s;
    const buf = this.buf;
    while (s < e && SPACE[buf[s]] === 1) s++;
    while (e > s && SPACE[buf[e - 1]] === 1) e--;
    this.s = s;
    this.e = e;
    if (s === e) return true;
    // Non-ASCII at either end may be whitespace that trim() removes (U+00A0, U+3000, ...).
    if (buf[s] >= 0x80 && !keptByTrim(buf, s, e)) return false;
    if (buf[e - 1] >= 0x80) {
      let lead = e - 1;
      while (lead > s && lead > e - 4 && buf[lead] < 0xc0) lead--; // back over continuation bytes
      if (!keptByTrim(buf, lead, e)) return false;
    }
    return true;
  }

  private put(b: number): void {
    this.out[this.length++] = b;
  }

  private putNull(): void {
    this.out[this.length++] = NULL[0];
    this.out[this.length++] = NULL[1];
  }

  private putInt(v: number): void {
    this.length = putDecimal(this.out, this.length, v);
  }

  private vin(r: CsvRow): boolean {
    if (!this.select(r, 0) || this.e - this.s !== 17) return false;
    const buf = this.buf;
    const out = this.out;
    let h = 0x811c9dc5;
    for (let i = this.s; i < this.e; i++) {
      const v = VIN_BYTE[buf[i]];
      if (v === 0) return false;
      out[this.length++] = v;
      h = Math.imul(h ^ v, 0x01000193);
    }
    this.vinHash = h >>> 0;
    this.put(TAB);
    return true;
  }

  /** brand (1), model (2), color (7): escaped for COPY; empty is an error or NULL. */
  private text(r: CsvRow, c: number, required: boolean): boolean {
    if (!this.select(r, c)) return false;
    const { s, e } = this;
    if (s === e) {
      if (required) return false;
      this.putNull();
      this.put(TAB);
      return true;
    }
    // Up to MAX_TEXT_CHARS bytes is up to as many characters; a longer text is counted there.
    if (e - s > MAX_TEXT_CHARS) return false;
    const buf = this.buf;
    const out = this.out;
    let wide = false;
    for (let i = s; i < e; i++) {
      const b = buf[i];
      if (b >= 0x80) wide = true;
      else if (b === 0) return false; // an error: the database cannot store NUL
      else if (b === QUOTE && this.quoted) {
        out[this.length++] = QUOTE; // "" inside quotes is one quote
        i++;
        continue;
      } else if (b === BACKSLASH) {
        out[this.length++] = BACKSLASH;
        out[this.length++] = BACKSLASH;
        continue;
      } else if (b === TAB || b === LF || b === CR) {
        out[this.length++] = BACKSLASH;
        out[this.length++] = b === TAB ? 116 : b === LF ? 110 : 114; // \t \n \r
        continue;
      }
      out[this.length++] = b;
    }
    // Bytes that are not UTF-8 become U+FFFD when decoded: the full path writes that.
    if (wide && !isUtf8(buf.subarray(s, e))) return false;
    this.put(TAB);
    return true;
  }

  /** Reads the selected field as an integer of 1 to 9 digits; -1 when it is not one. */
  private digits(): number {
    const { s, e } = this;
    if (e === s || e - s > 9) return -1;
    const buf = this.buf;
    let v = 0;
    for (let i = s; i < e; i++) {
      const d = buf[i] - 48;
      if (d < 0 || d > 9) return -1;
      v = v * 10 + d;
    }
    return v;
  }

  private year(r: CsvRow): boolean {
    if (!this.select(r, 3)) return false;
    const y = this.digits();
    if (y < MIN_YEAR || y > this.maxYear) return false;
    this.putInt(y);
    this.put(TAB);
    return true;
  }

  /** Digits, then optionally the decimal mark and one or two digits; written without leading zeros or a zero fraction, with ".". */
  private price(r: CsvRow): boolean {
    if (!this.select(r, 4)) return false;
    const buf = this.buf;
    const mark = this.mark;
    let { s } = this;
    const { e } = this;
    let dot = e;
    for (let i = s; i < e; i++) {
      const b = buf[i];
      if (b === mark && dot === e) dot = i;
      else if (b < 48 || b > 57) return false;
    }
    const frac = dot === e ? 0 : e - dot - 1;
    if (dot === s || (dot < e && (frac < 1 || frac > 2))) return false;
    while (s < dot - 1 && buf[s] === 48) s++;
    if (dot - s > PRICE_LIMIT_DIGITS) return false; // at least 10^10: too large (said there)
    for (let i = s; i < dot; i++) this.put(buf[i]);
    if (frac > 0 && !(buf[dot + 1] === 48 && (frac === 1 || buf[dot + 2] === 48))) {
      this.put(DOT);
      this.put(buf[dot + 1]);
      this.put(frac === 2 ? buf[dot + 2] : 48);
    }
    this.put(TAB);
    return true;
  }

  private mileage(r: CsvRow): boolean {
    if (!this.select(r, 5)) return false;
    if (this.s === this.e) {
      this.putNull();
    } else {
      // (Nine digits are always within MAX_MILEAGE; more are left to the full path.)
      const m = this.digits();
      if (m < 0 || m > MAX_MILEAGE) return false;
      this.putInt(m);
    }
    this.put(TAB);
    return true;
  }

  private condition(r: CsvRow): boolean {
    if (!this.select(r, 6)) return false;
    const { s, e } = this;
    const buf = this.buf;
    let found = s === e ? CONDITIONS[0] : undefined;
    for (let k = 0; found === undefined && k < CONDITIONS.length; k++) {
      const word = CONDITIONS[k];
      if (word.length !== e - s) continue;
      let i = 0;
      // ASCII letters only: | 0x20 lower-cases them, and maps no other byte onto one.
      while (i < word.length && (buf[s + i] | 0x20) === word[i]) i++;
      if (i === word.length) found = word;
    }
    if (found === undefined) return false;
    for (let i = 0; i < found.length; i++) this.put(found[i]);
    this.put(TAB);
    return true;
  }

  /** Two ASCII digits at buf[i] (before `end`) as a number; -1 when they are not. */
  private two(i: number, end: number): number {
    if (i + 1 >= end) return -1;
    const a = this.buf[i] - 48;
    const b = this.buf[i + 1] - 48;
    return a < 0 || a > 9 || b < 0 || b > 9 ? -1 : a * 10 + b;
  }

  /**
   * Empty, or an ISO 8601 date that exists (YYYY-MM-DD), optionally with a time of day and an
   * offset as car.ts's TIME_RE takes them: T10:00, T10:00:00.123Z, " 10:00:00+02", +0200, +02:00.
   */
  private listedAt(r: CsvRow): boolean {
    if (!this.select(r, 8)) return false;
    const { s, e } = this;
    if (s === e) {
      this.putNull();
      this.put(LF);
      return true;
    }
    const buf = this.buf;
    if (e - s < 10 || buf[s + 4] !== DASH || buf[s + 7] !== DASH) return false;
    let y = 0;
    for (let i = s; i < s + 4; i++) {
      const v = buf[i] - 48;
      if (v < 0 || v > 9) return false;
      y = y * 10 + v;
    }
    const mo = this.two(s + 5, e);
    const d = this.two(s + 8, e);
    const leap = y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
    if (y < MIN_YEAR || y > this.maxYear || mo < 1 || mo > 12 || d < 1 || d > (mo === 2 && leap ? 29 : DAYS_IN_MONTH[mo])) return false;
    let i = s + 10;
    if (i < e) {
      const t = buf[i];
      if (t !== 84 && t !== 116 && t !== 32) return false; // T t space
      const hh = this.two(i + 1, e);
      const mm = buf[i + 3] === COLON ? this.two(i + 4, e) : -1;
      if (hh < 0 || hh > 23 || mm < 0 || mm > 59) return false;
      i += 6;
      if (i < e && buf[i] === COLON) {
        const ss = this.two(i + 1, e);
        if (ss < 0 || ss > 59) return false;
        i += 3;
        if (i < e && buf[i] === DOT) {
          let k = i + 1;
          while (k < e && k - i <= 9 && buf[k] >= 48 && buf[k] <= 57) k++;
          if (k === i + 1) return false;
          i = k;
        }
      }
      if (i < e) {
        const z = buf[i];
        if (z === 90 || z === 122) {
          i++; // Z z
        } else if (z === 43 || z === DASH) {
          const oh = this.two(i + 1, e);
          if (oh < 0 || oh > 15) return false;
          i += 3;
          if (i < e) {
            if (buf[i] === COLON) i++;
            const om = this.two(i, e);
            if (om < 0 || om > 59) return false;
            i += 2;
          }
        } else {
          return false;
        }
      }
      if (i !== e) return false;
    }
    for (let k = s; k < e; k++) this.put(buf[k]);
    this.put(LF);
    return true;
  }
}
