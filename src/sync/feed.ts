// A price feed: a path, `-` or an http(s) URL, CSV (header with vin and price) or NDJSON
// ({"vin", "price"} per line), gzipped or not, read as chunks of checked rows with their line.
// The format is taken from the first character of the content ('{' is NDJSON), which works the
// same for files, stdin and URLs whatever their name or Content-Type says.
import type { Readable } from 'node:stream';
import { CarsError } from '../errors.js';
import { validatorsOf, type HttpClient, type Validators } from '../http/client.js';
import { openInput, type Input } from '../sources/input.js';
import { httpInput } from '../sources/remote.js';
import { csvSource } from '../sources/records.js';
import { checkPriceRow, parseNdjsonLine, vinKey } from './feed-rows.js';
import { PRICE_LIMIT_DIGITS, VIN_BYTE } from '../car.js';
import { NdjsonSplitter, possiblyCut, type NdjsonLine } from '../sources/ndjson.js';
import { CsvRow } from '../sources/csv-records.js';
import { ColumnMap, type HeaderMaps } from '../sources/column-map.js';
import { decodeInput, escapedByte, notUtf8Message, unescapeAs1252, Utf8TextDecoder, type EncodingOption, type TextFacts } from '../sources/encoding.js';

export interface FeedRow {
  kind: 'row';
  vin: string;
  price: string;
  line: number;
}

export interface FeedReject {
  kind: 'reject';
  line: number;
  /** The row's values under `columns`, as given. */
  values: Array<string | undefined>;
  error: string;
  raw: string;
  /** The key this row is sharded by (a malformed line has none: shard 0 takes it). */
  key: string | undefined;
}

export type FeedItem = FeedRow | FeedReject;

export interface Feed {
  name: string;
  format: 'csv' | 'ndjson';
  /** How its bytes were read (known once the first have been). */
  text: TextFacts;
  /** The columns of the rejects file (the CSV header as given, or vin, price). */
  columns: string[];
  items: AsyncIterable<FeedItem[]>;
  totalBytes: number | undefined;
  bytesRead(): number;
  /** A URL asked with `ifChanged` that answered 304 Not Modified: no rows. */
  notModified?: boolean;
  /** A URL's ETag / Last-Modified. */
  validators?: Validators;
}

export const isUrl = (s: string) => /^https?:\/\//i.test(s);

/**
 * Opens the feed. A URL goes through the run's HTTP client (rate, retries, timeouts); the body's
 * failure surfaces from `items` as CarsError('REMOTE_FAILED').
 */
export interface FeedOptions {
  stdin: Readable;
  http?: HttpClient;
  warn(message: string): void;
  encoding?: EncodingOption;
  /** One character or 'auto'. */
  delimiter?: string;
  map?: HeaderMaps;
  decimal?: '.' | ',';
  strictQuotes?: boolean;
  maxRecordBytes?: number;
  acceptUnterminated?: boolean;
  /** A URL is asked with these (If-None-Match / If-Modified-Since). */
  ifChanged?: Validators;
}

export async function openFeed(source: string, opts: FeedOptions): Promise<Feed> {
  if (isUrl(source)) {
    if (!opts.http) throw new CarsError('INTERNAL', 'a feed URL needs the HTTP client');
    const res = await opts.http.stream(source, { ifChanged: opts.ifChanged });
    const validators = validatorsOf(res.headers);
    if (res.status === 304) return notModifiedFeed(source, validators);
    return { ...(await readFeed(httpInput(source, source, res), true, opts)), validators };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(source)) {
    throw new CarsError('USAGE', `--feed ${source}: only a path, - or an http(s):// URL can be read`);
  }
  return readFeed(await openInput(source, opts.stdin), false, opts);
}

/** A feed URL that answered 304 Not Modified: no rows. */
function notModifiedFeed(name: string, validators: Validators | undefined): Feed {
  return {
    name,
    format: 'csv',
    text: { encoding: 'utf-8', detected: false, decided: false },
    columns: ['vin', 'price'],
    items: (async function* () {})(),
    totalBytes: undefined,
    bytesRead: () => 0,
    notModified: true,
    validators,
  };
}

async function readFeed(input: Input, remote: boolean, opts: FeedOptions): Promise<Feed> {
  // A feed that is not what it should be: for a URL that is the remote's failure (exit 4), for a
  // file the operator's (exit 2).
  const bad = (message: string) => new CarsError(remote ? 'REMOTE_FAILED' : 'INPUT_HEADER', message);
  // Decoded to UTF-8 first (encoding.ts), so that the format and the fields are seen in any encoding.
  const decoded = decodeInput(input, opts.encoding ?? 'auto');
  const { first, stream } = await peekText(decoded.input.stream);
  input = { ...decoded.input, stream: pieces(stream) };
  if (first === undefined) throw bad(`${input.name}: the feed is empty; expected a CSV header "vin,price" or NDJSON lines {"vin": ..., "price": ...}`);
  const keys = new ColumnMap(opts.map);
  if (first === '{') return ndjsonFeed(input, decoded.facts, keys, opts.decimal ?? '.', opts.acceptUnterminated);
  return csvFeed(input, decoded.facts, keys, opts, bad);
}

async function csvFeed(input: Input, facts: TextFacts, keys: ColumnMap, opts: FeedOptions, bad: (m: string) => CarsError): Promise<Feed> {
  const src = await csvSource(input, { delimiter: opts.delimiter ?? 'auto', encoding: 'utf-8', strictQuotes: opts.strictQuotes, maxRecordBytes: opts.maxRecordBytes, acceptUnterminated: opts.acceptUnterminated }).catch((e: unknown) => {
    throw e instanceof CarsError && e.code === 'INPUT_HEADER' ? bad(e.message) : e;
  });
  facts.delimiter = src.text?.delimiter;
  const where = `${src.name}: line ${src.headerLine ?? 1}`;
  let vi = -1;
  let pi = -1;
  const extra: string[] = [];
  for (let i = 0; i < src.columns.length; i++) {
    const c = keys.columnOf(src.columns[i]);
    const at = c === 'vin' ? vi : c === 'price' ? pi : -2;
    if (at === -2) {
      if (!['line', 'error', 'raw'].includes(src.columns[i].trim().toLowerCase())) extra.push(src.columns[i]);
      continue;
    }
    if (at >= 0) throw bad(`${where}: columns ${JSON.stringify(src.columns[at])} and ${JSON.stringify(src.columns[i])} both name ${c}; keep one, or ignore the other with --map '${src.columns[i]}='`);
    if (c === 'vin') vi = i;
    else pi = i;
  }
  if (vi < 0 || pi < 0) {
    const missing = [vi < 0 ? 'vin' : '', pi < 0 ? 'price' : ''].filter(Boolean).join(' and ');
    throw bad(`${where}: the feed needs the column${missing.includes(' and ') ? 's' : ''} ${missing} (found: ${src.columns.map((c) => JSON.stringify(c)).join(', ') || 'none'}); name ${missing.includes(' and ') ? 'them' : 'it'} with --map 'Header=${vi < 0 ? 'vin' : 'price'}'`);
  }
  if (extra.length) opts.warn(`warning: ${src.name}: ignoring column${extra.length > 1 ? 's' : ''} ${extra.join(', ')}`);
  const decimal = opts.decimal ?? '.';
  const width = src.columns.length;
  // A feed of exactly two columns and decimal points: most of its rows are taken from the bytes.
  const plain = width === 2 && decimal === '.';
  async function* items(): AsyncGenerator<FeedItem[]> {
    for await (const chunk of src.items) {
      const out: FeedItem[] = new Array(chunk.length);
      for (let i = 0; i < chunk.length; i++) {
        const it = chunk[i];
        const line = it.where as number;
        if (it.kind === 'malformed') {
          out[i] = { kind: 'reject', line, values: it.values ?? [], error: it.error, raw: it.raw, key: undefined };
          continue;
        }
        if (plain && it instanceof CsvRow && it.count === 2) {
          const row = plainPriceRow(it, vi, pi, line);
          if (row) {
            out[i] = row;
            continue;
          }
        }
        if (it instanceof CsvRow && !it.isUtf8()) {
          out[i] = { kind: 'reject', line, values: it.fieldsAs('windows-1252'), error: notUtf8Message(it.firstInvalidByte()), raw: '', key: undefined };
          continue;
        }
        const values = it.values;
        if (values.length !== width) {
          out[i] = { kind: 'reject', line, values, error: `wrong number of fields: expected ${width}, got ${values.length}`, raw: values.join(','), key: vinKey(values[vi]) };
          continue;
        }
        const c = checkPriceRow(values[vi], values[pi], decimal);
        out[i] = c.ok ? { kind: 'row', vin: c.vin, price: c.price, line } : { kind: 'reject', line, values, error: c.error, raw: '', key: vinKey(values[vi]) };
      }
      yield out;
    }
  }
  return { name: src.name, format: 'csv', text: facts, columns: src.columns, items: items(), totalBytes: src.totalBytes, bytesRead: src.bytesRead };
}

function ndjsonFeed(input: Input, facts: TextFacts, keys: ColumnMap, decimal: '.' | ',', acceptUnterminated = false): Feed {
  async function* items(): AsyncGenerator<FeedItem[]> {
    const decoder = new Utf8TextDecoder();
    const lines = new NdjsonSplitter();
    const convert = (batch: NdjsonLine[]): FeedItem[] => {
      const out: FeedItem[] = [];
      for (const l of batch) {
        if (l.kind === 'overlong') {
          out.push({ kind: 'reject', line: l.line, values: [], error: 'line longer than 1 MiB', raw: l.raw, key: undefined });
          continue;
        }
        const bad = escapedByte(l.text);
        if (bad >= 0) {
          out.push({ kind: 'reject', line: l.line, values: [], error: notUtf8Message(bad), raw: unescapeAs1252(l.text), key: undefined });
          continue;
        }
        const f = parseNdjsonLine(l.text, keys);
        if (f.error) {
          out.push({ kind: 'reject', line: l.line, values: [f.vin, f.price], error: f.error, raw: l.text, key: undefined });
          continue;
        }
        const c = checkPriceRow(f.vin, f.price, decimal);
        out.push(c.ok ? { kind: 'row', vin: c.vin, price: c.price, line: l.line } : { kind: 'reject', line: l.line, values: [f.vin, f.price], error: c.error, raw: l.text, key: vinKey(f.vin) });
      }
      return out;
    };
    for await (const chunk of input.stream) {
      // Empty too: the reader checks for an interrupt between chunks.
      yield convert(lines.push(decoder.push(chunk)));
    }
    const last = lines.end(lines.push(decoder.end()));
    const cut = lines.unterminated && input.mayBeCut && !acceptUnterminated ? last.pop() : undefined;
    const out = convert(last);
    if (cut) {
      const item = possiblyCut(cut, input.name);
      out.push({ kind: 'reject', line: cut.line, values: [], error: item.kind === 'malformed' ? item.error : '', raw: cut.kind === 'line' ? cut.text : cut.raw, key: undefined });
    }
    if (out.length) yield out;
  }
  return { name: input.name, format: 'ndjson', text: facts, columns: ['vin', 'price'], items: items(), totalBytes: input.totalBytes, bytesRead: input.bytesRead };
}

const DIGIT_0 = 48;
const DIGIT_9 = 57;
const DOT = 46;

/**
 * The row when both its fields are already what checkPriceRow would make of them, read straight
 * from the bytes: an unquoted VIN of 17 stored characters, and an unquoted canonical price (`0`,
 * `12500`, `12500.50`; not `012`, `12500.5`, `12500.00` or ` 12500`). Any other row (undefined)
 * goes through checkPriceRow, which accepts more and says why it refuses. Being ASCII, such a row is
 * valid UTF-8. This skips, per row, the fields' array, their UTF-8 decoding, the checks' regular
 * expressions and result objects: a third of the feed's CPU (1M rows: 0.80 -> 0.50 s), which the
 * writers' backends get on a machine of two cores.
 */
export function plainPriceRow(r: CsvRow, vi: number, pi: number, line: number): FeedRow | undefined {
  const b = r.bounds;
  const buf = r.buf;
  const vs = b[r.at + 2 * vi];
  const ve = b[r.at + 2 * vi + 1];
  if (vs < 0 || ve - vs !== 17) return undefined; // quoted (negative start) or not 17 bytes
  for (let k = vs; k < ve; k++) {
    const v = VIN_BYTE[buf[k]];
    if (v === 0 || v !== buf[k]) return undefined; // not a VIN byte, or lower case
  }
  const ps = b[r.at + 2 * pi];
  const pe = b[r.at + 2 * pi + 1];
  if (ps < 0 || pe <= ps) return undefined;
  let k = ps;
  if (buf[k] === DIGIT_0) k++; // "0" alone, or "0.dd"
  else {
    while (k < pe && buf[k] >= DIGIT_0 && buf[k] <= DIGIT_9) k++;
    if (k === ps || k - ps > PRICE_LIMIT_DIGITS) return undefined;
  }
  if (k < pe) {
    if (pe - k !== 3 || buf[k] !== DOT) return undefined;
    const d1 = buf[k + 1];
    const d2 = buf[k + 2];
    if (d1 < DIGIT_0 || d1 > DIGIT_9 || d2 < DIGIT_0 || d2 > DIGIT_9 || (d1 === DIGIT_0 && d2 === DIGIT_0)) return undefined;
  }
  return { kind: 'row', vin: buf.toString('latin1', vs, ve), price: buf.toString('latin1', ps, pe), line };
}

/**
 * Hands bytes on in pieces of at most 4 KiB (views, not copies). The parsers return every row of
 * what they are given at once, and the rows of a 256 KiB read (~9000) stay alive until they are
 * all handed to the writers: more than V8's young generation held under the launcher's then
 * --max-semi-space-size=1, so most were promoted and garbage collection took most of the CPU
 * (1M rows: 4.7 s of CPU, 3 s of it GC). ~150 rows at a time die young (2.3 s, 0.8 s GC;
 * 16 KiB pieces: 4.7 s, 1 KiB: 2.6 s).
 */
async function* pieces(stream: AsyncIterable<Buffer>, size = 4096): AsyncGenerator<Buffer> {
  for await (const chunk of stream) {
    if (chunk.length <= size) yield chunk;
    else for (let i = 0; i < chunk.length; i += size) yield chunk.subarray(i, i + size);
  }
}

/** Reads until the first non-blank character (after a BOM); gives it and the whole stream back. */
async function peekText(stream: AsyncIterable<Buffer>): Promise<{ first: string | undefined; stream: AsyncIterable<Buffer> }> {
  const it = stream[Symbol.asyncIterator]();
  const seen: Buffer[] = [];
  let first: string | undefined;
  let done = false;
  let size = 0;
  while (first === undefined) {
    const r = await it.next();
    if (r.done) {
      done = true;
      break;
    }
    seen.push(r.value);
    size += r.value.length;
    const text = Buffer.concat(seen).toString('utf8').replace(/^\ufeff/, '');
    const m = /\S/.exec(text);
    if (m) first = m[0];
    else if (size > 1 << 20) break; // a megabyte of blanks: let the parser say what it is
  }
  async function* again(): AsyncGenerator<Buffer> {
    try {
      yield* seen;
      if (!done) for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
    } finally {
      await it.return?.();
    }
  }
  return { first, stream: again() };
}

