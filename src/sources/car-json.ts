// A car written as a JSON object (an NDJSON line, an item of a page) -> values aligned with the
// car columns, as the CSV path produces them. Numbers keep the text the feed wrote (`12500.50`
// stays `12500.50`, `1e3` stays `1e3` and is rejected by validation like it would be in a CSV):
// JSON.parse cannot give that text back on Node 20, so objects that hold numbers are parsed a
// second time by `parseKeepingNumbers`, which is only ever handed text JSON.parse accepted.
import { CAR_COLUMNS } from '../car.js';
import { ColumnMap } from './column-map.js';

/** A JSON number as written in the source text. */
export class RawNumber {
  constructor(readonly raw: string) {}
}

const CAR_INDEX = new Map<string, number>(CAR_COLUMNS.map((c, i) => [c, i]));
/** Keys as the built-in aliases read them, for callers that pass no map of their own. */
const DEFAULT_KEYS = new ColumnMap();

export function isJsonObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof RawNumber);
}

/** "an array", "a string", "null", ... for messages. */
export function jsonKind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (v instanceof RawNumber || typeof v === 'number') return 'a number';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'string') return 'a string';
  if (typeof v === 'object') return 'an object';
  return typeof v;
}

/** Whether a car column of this object holds a number (then its text must be recovered). */
export function hasCarNumber(obj: Record<string, unknown>, keys: ColumnMap = DEFAULT_KEYS): boolean {
  for (const key in obj) {
    if (typeof obj[key] === 'number' && keys.columnOf(key) !== null) return true;
  }
  return false;
}

export interface CarValues {
  /** Aligned with CAR_COLUMNS; undefined for null or absent. */
  values: Array<string | undefined>;
  /** Set when a car key holds something that is neither a string, a number nor null. */
  error?: string;
}

/**
 * Keys are read as CSV headers are (case-insensitively, with aliases and --map: see column-map.ts);
 * a later duplicate wins. `keys` hears every other key.
 */
export function carValues(obj: Record<string, unknown>, keys: ColumnMap = DEFAULT_KEYS): CarValues {
  const values: Array<string | undefined> = new Array(CAR_COLUMNS.length).fill(undefined);
  let problems: string[] | undefined;
  for (const key of Object.keys(obj)) {
    const column = keys.note(key);
    if (column === null) continue;
    const idx = CAR_INDEX.get(column)!;
    const v = obj[key];
    if (v === null || v === undefined) values[idx] = undefined;
    else if (typeof v === 'string') values[idx] = v;
    else if (v instanceof RawNumber) values[idx] = v.raw;
    else if (typeof v === 'number') values[idx] = String(v);
    else {
      // Kept in the rejects file as JSON, so the operator sees what came.
      values[idx] = JSON.stringify(unwrap(v));
      (problems ??= []).push(`"${key}" is ${jsonKind(v)}`);
    }
  }
  return problems ? { values, error: `${problems.join(', ')}; expected a string, a number or null` } : { values };
}

/** Back to plain JSON values (for messages and the rejects file). */
function unwrap(v: unknown): unknown {
  if (v instanceof RawNumber) return Number(v.raw);
  if (Array.isArray(v)) return v.map(unwrap);
  if (isJsonObject(v)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v)) out[k] = unwrap(v[k]);
    return out;
  }
  return v;
}

/** JSON text of a value, shortened for the rejects file's `raw` column. */
export function rawJson(v: unknown, max = 2000): string {
  let s: string;
  try {
    s = JSON.stringify(unwrap(v)) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

export type CarParse =
  | { ok: true; values: Array<string | undefined> }
  | { ok: false; error: string; values?: Array<string | undefined> };

/** One NDJSON line (or any JSON text that should be one car object). */
export function parseCarJson(text: string, keys: ColumnMap = DEFAULT_KEYS): CarParse {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return { ok: false, error: `not valid JSON: ${(e as Error).message}` };
  }
  if (!isJsonObject(v)) return { ok: false, error: `not a JSON object (got ${jsonKind(v)})` };
  if (hasCarNumber(v, keys)) v = parseKeepingNumbers(text);
  const r = carValues(v as Record<string, unknown>, keys);
  return r.error ? { ok: false, error: r.error, values: r.values } : { ok: true, values: r.values };
}

const NUMBER_RE = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const MAX_DEPTH = 512;

/**
 * JSON.parse, except that numbers come back as RawNumber with their source text. Meant for text
 * JSON.parse has accepted already; it still throws a SyntaxError on anything else.
 */
export function parseKeepingNumbers(text: string): unknown {
  let i = 0;
  const n = text.length;
  const fail = (what: string): never => {
    throw new SyntaxError(`${what} at position ${i}`);
  };
  const space = () => {
    for (; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c !== 32 && c !== 10 && c !== 13 && c !== 9) return;
    }
  };
  const string = (): string => {
    const start = i++;
    let escaped = false;
    for (; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c === 92 /* \ */) {
        escaped = true;
        i++;
      } else if (c === 34 /* " */) {
        i++;
        return escaped ? (JSON.parse(text.slice(start, i)) as string) : text.slice(start + 1, i - 1);
      }
    }
    return fail('unterminated string');
  };
  const value = (depth: number): unknown => {
    if (depth > MAX_DEPTH) fail('nested too deeply');
    space();
    const c = text.charCodeAt(i);
    if (c === 34) return string();
    if (c === 123 /* { */) {
      i++;
      const obj: Record<string, unknown> = {};
      space();
      if (text.charCodeAt(i) === 125) {
        i++;
        return obj;
      }
      for (;;) {
        space();
        if (text.charCodeAt(i) !== 34) fail('expected a key');
        const key = string();
        space();
        if (text.charCodeAt(i) !== 58 /* : */) fail('expected ":"');
        i++;
        const v = value(depth + 1);
        // `__proto__` is an ordinary key in JSON, as JSON.parse has it.
        if (key === '__proto__') Object.defineProperty(obj, key, { value: v, writable: true, enumerable: true, configurable: true });
        else obj[key] = v;
        space();
        const d = text.charCodeAt(i++);
        if (d === 125) return obj;
        if (d !== 44 /* , */) fail('expected "," or "}"');
      }
    }
    if (c === 91 /* [ */) {
      i++;
      const arr: unknown[] = [];
      space();
      if (text.charCodeAt(i) === 93) {
        i++;
        return arr;
      }
      for (;;) {
        arr.push(value(depth + 1));
        space();
        const d = text.charCodeAt(i++);
        if (d === 93) return arr;
        if (d !== 44) fail('expected "," or "]"');
      }
    }
    if (text.startsWith('true', i)) {
      i += 4;
      return true;
    }
    if (text.startsWith('false', i)) {
      i += 5;
      return false;
    }
    if (text.startsWith('null', i)) {
      i += 4;
      return null;
    }
    NUMBER_RE.lastIndex = i;
    const m = NUMBER_RE.exec(text);
    if (!m) return fail('unexpected character');
    i += m[0].length;
    return new RawNumber(m[0]);
  };
  const out = value(0);
  space();
  if (i < n) fail('unexpected text after the JSON value');
  return out;
}
