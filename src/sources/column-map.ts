// Which car column an input's header (or a JSON key) names. Dealer systems say "Make" and
// "Odometer" where the table says brand and mileage: headers are compared after trimming,
// case-folding and collapsing spaces, `_`, `-` and `.`, against the column names and a table of
// aliases; `--map 'Header=column'` names any other header and wins over an alias.
import { CarsError } from '../errors.js';
import { CAR_COLUMNS, REQUIRED_COLUMNS, type CarColumn } from '../car.js';

/** The built-in aliases (the README's table is this one). */
export const ALIASES: Readonly<Record<CarColumn, readonly string[]>> = {
  vin: ['vin number'],
  brand: ['make', 'manufacturer', 'marque'],
  model: [],
  year: [],
  price: ['asking price', 'sale price', 'internet price'],
  mileage: ['odometer', 'miles', 'km', 'kilometers', 'kilometres'],
  condition: ['status'],
  color: ['colour', 'exterior color', 'exterior colour'],
  listed_at: ['listed', 'listed at', 'date listed', 'list date'],
};

/** The columns a rejects file adds (line, error, raw): read back without a warning. */
const REJECT_KEYS = new Set(['line', 'error', 'raw']);

/** "  Listed_At " -> "listed at": how two headers are compared. */
export function normalizeHeader(h: string): string {
  return h.trim().toLowerCase().replace(/[\s_.-]+/g, ' ').trim();
}

const BUILT_IN = new Map<string, CarColumn>();
for (const c of CAR_COLUMNS) {
  BUILT_IN.set(normalizeHeader(c), c);
  for (const a of ALIASES[c]) BUILT_IN.set(normalizeHeader(a), c);
}

/** `--map` entries: normalized header -> the column, or null for "ignore this header" (`--map 'Notes='`). */
export type HeaderMaps = ReadonlyMap<string, CarColumn | null>;

/** Parses one `--map 'Header=column'` (commander calls it once per use, with the entries so far). */
export function parseMapOption(v: string, previous: Map<string, CarColumn | null> = new Map()): Map<string, CarColumn | null> {
  const eq = v.lastIndexOf('=');
  const header = eq < 0 ? '' : normalizeHeader(v.slice(0, eq));
  const target = eq < 0 ? '' : v.slice(eq + 1).trim().toLowerCase();
  if (eq < 0 || header === '') throw new CarsError('USAGE', `--map ${JSON.stringify(v)}: expected 'Header=column', e.g. --map 'Fahrgestellnummer=vin'`);
  if (target !== '' && !(CAR_COLUMNS as readonly string[]).includes(target)) {
    throw new CarsError('USAGE', `--map ${JSON.stringify(v)}: "${target}" is not a car column; expected one of ${CAR_COLUMNS.join(', ')} (or nothing after = to ignore the header)`);
  }
  const next = new Map(previous);
  next.set(header, target === '' ? null : (target as CarColumn));
  return next;
}

/** What a header is: a car column, or not one (null). Cached per header text, for JSON keys. */
export class ColumnMap {
  private readonly cache = new Map<string, CarColumn | null>();
  /** Headers (keys) met so far that name a column, and those that do not, for the report. */
  readonly used = new Map<string, CarColumn>();
  readonly ignored = new Set<string>();

  /** `onUnknown` hears each JSON key that names no column, once (not the columns a rejects file adds). */
  constructor(
    private readonly maps: HeaderMaps = new Map(),
    private readonly onUnknown?: (key: string) => void,
  ) {}

  columnOf(header: string): CarColumn | null {
    let c = this.cache.get(header);
    if (c === undefined) {
      const n = normalizeHeader(header);
      c = this.maps.has(n) ? this.maps.get(n)! : (BUILT_IN.get(n) ?? null);
      if (this.cache.size < 10_000) this.cache.set(header, c);
    }
    return c;
  }

  /** columnOf, noting the key as used or ignored (JSON keys, as they come). */
  note(key: string): CarColumn | null {
    const c = this.columnOf(key);
    if (c === null) {
      if (!this.ignored.has(key) && !REJECT_KEYS.has(normalizeHeader(key)) && this.ignored.size < 100) {
        this.ignored.add(key);
        this.onUnknown?.(key);
      }
    } else if (!this.used.has(key)) this.used.set(key, c);
    return c;
  }

  /** The mapping used, header -> column, for the summary. */
  columns(): Record<string, CarColumn> {
    return Object.fromEntries(this.used);
  }
}

export interface HeaderMapping {
  /** Per car column (CAR_COLUMNS order), the index of its header, or -1. */
  positions: number[];
  /** The headers that name no column (other than `skip`). */
  ignored: string[];
}

/**
 * Maps a CSV header. Two headers that name one column, or a required column that none names, are
 * errors that say what was found and how to fix it. `skip` are headers taken without a word (the
 * line, error and raw columns of a rejects file read back).
 */
export function mapHeader(headers: string[], map: ColumnMap, where: string, skip: ReadonlySet<string> = REJECT_KEYS): HeaderMapping {
  const positions: number[] = CAR_COLUMNS.map(() => -1);
  const ignored: string[] = [];
  for (let i = 0; i < headers.length; i++) {
    const c = map.columnOf(headers[i]);
    if (c === null) {
      if (!skip.has(normalizeHeader(headers[i]))) {
        ignored.push(headers[i]);
        map.ignored.add(headers[i]);
      }
      continue;
    }
    const k = CAR_COLUMNS.indexOf(c);
    if (positions[k] >= 0) {
      throw new CarsError(
        'INPUT_HEADER',
        `${where}: columns ${JSON.stringify(headers[positions[k]])} and ${JSON.stringify(headers[i])} both name ${c}; keep one, or ignore the other with --map '${headers[i]}='`,
      );
    }
    positions[k] = i;
    map.used.set(headers[i], c);
  }
  const missing = REQUIRED_COLUMNS.filter((c) => positions[CAR_COLUMNS.indexOf(c)] < 0);
  if (missing.length) {
    throw new CarsError(
      'INPUT_HEADER',
      `${where}: missing required column${missing.length > 1 ? 's' : ''} ${missing.join(', ')} (found: ${headers.map((h) => JSON.stringify(h)).join(', ') || 'none'}); ` +
        `name ${missing.length > 1 ? 'them' : 'it'} with --map 'Header=${missing[0]}'`,
    );
  }
  return { positions, ignored };
}
