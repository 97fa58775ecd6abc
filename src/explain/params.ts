// The parameters a named query is explained with. A query file declares them on its
// `-- params:` line, in order ($1, $2, ...), each either a sample drawn from the data or a literal:
//
//   -- params: common_brand, price_low, price_high, 50
//   -- params: 'available', null, cursor_at, cursor_id, 50
//   -- params: ["vin_array_1000", "price_array_1000", null]
//
// A bare word or a JSON string that is exactly a sample name draws that sample; anything else is a
// literal: null, a number, 'SQL quoted' or "JSON" text, or a JSON array. Pure.

/** Samples drawn from the table (see samples.ts); what each means is written there. */
export const SAMPLE_NAMES = [
  'common_brand',
  'price_low',
  'price_high',
  'year_low',
  'year_high',
  'some_vin',
  'vin_array_1000',
  'price_array_1000',
  'cursor_at',
  'cursor_id',
] as const;

export type SampleName = (typeof SAMPLE_NAMES)[number];
export type Samples = Record<SampleName, unknown>;

export type ParamSpec = { sample: SampleName } | { literal: unknown };

const isSample = (s: string): s is SampleName => (SAMPLE_NAMES as readonly string[]).includes(s);

/** The value of the query file's `-- params:` line, or null when it has none. */
export function paramsLine(text: string): string | null {
  const m = /^-- params:(.*)$/m.exec(text);
  return m ? m[1].trim() : null;
}

function splitTopLevel(line: string): string[] {
  const items: string[] = [];
  let depth = 0;
  let quote: string | null = null;
  let start = 0;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = null;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '[' || c === '{') depth++;
    else if (c === ']' || c === '}') depth--;
    else if (c === ',' && depth === 0) {
      items.push(line.slice(start, i));
      start = i + 1;
    }
  }
  items.push(line.slice(start));
  return items.map((s) => s.trim());
}

function parseItem(item: string): ParamSpec {
  if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(item)) {
    const word = item.toLowerCase();
    if (word === 'null') return { literal: null };
    if (word === 'true' || word === 'false') return { literal: word === 'true' };
    if (isSample(item)) return { sample: item };
    throw new Error(`unknown sample "${item}" (known: ${SAMPLE_NAMES.join(', ')})`);
  }
  const quoted = /^'((?:[^']|'')*)'$/.exec(item);
  if (quoted) return { literal: quoted[1].replace(/''/g, "'") };
  let value: unknown;
  try {
    value = JSON.parse(item);
  } catch {
    throw new Error(`cannot read "${item}": give a sample name, null, a number, 'text' or a JSON value`);
  }
  return typeof value === 'string' && isSample(value) ? { sample: value } : { literal: value };
}

/** Reads a `-- params:` value; throws an Error naming the item it could not read. */
export function parseParams(line: string): ParamSpec[] {
  const trimmed = line.trim();
  if (trimmed === '' || trimmed === '[]') return [];
  if (trimmed.startsWith('[')) {
    // The whole line as one JSON array; failing that, a list whose first item is an array.
    let list: unknown;
    try {
      list = JSON.parse(trimmed);
    } catch {
      list = undefined;
    }
    if (Array.isArray(list)) return list.map((v) => (typeof v === 'string' && isSample(v) ? { sample: v } : { literal: v }));
  }
  return splitTopLevel(trimmed).map(parseItem);
}

// Parameter types (pg_type oids) a query without a `-- params:` line is filled by.
const OID_TEXT_ARRAY = 1009;
const OID_VARCHAR_ARRAY = 1015;
const OID_NUMERIC_ARRAY = 1231;

/**
 * For a query file without `-- params:`: arrays of text are VINs and arrays of numeric are
 * prices (the shape of a batched write); any other parameter is null.
 */
export function inferParams(types: number[]): ParamSpec[] {
  return types.map((t): ParamSpec => {
    if (t === OID_TEXT_ARRAY || t === OID_VARCHAR_ARRAY) return { sample: 'vin_array_1000' };
    if (t === OID_NUMERIC_ARRAY) return { sample: 'price_array_1000' };
    return { literal: null };
  });
}

export function resolveParams(specs: ParamSpec[], samples: Samples): unknown[] {
  return specs.map((s) => ('sample' in s ? samples[s.sample] : s.literal));
}

export function needsSamples(specs: ParamSpec[]): boolean {
  return specs.some((s) => 'sample' in s);
}

/** A parameter as the plan header shows it: 'Toyota', 9600.50, NULL, [1,000 values: 'JTD…', …]. */
export function showParam(v: unknown): string {
  if (v === null || v === undefined) return 'NULL';
  if (typeof v === 'string') return `'${v.length > 40 ? `${v.slice(0, 37)}...` : v}'`;
  if (Array.isArray(v)) {
    const head = v.slice(0, 2).map(showParam);
    return `[${v.length.toLocaleString('en-US')} value${v.length === 1 ? '' : 's'}${head.length ? `: ${head.join(', ')}${v.length > 2 ? ', ...' : ''}` : ''}]`;
  }
  if (v instanceof Date) return `'${v.toISOString()}'`;
  return String(v);
}
