// One price feed row: a VIN and a price, checked by the same rules as `cars import`. Pure.
import { validatePrice, validateVin } from '../car.js';
import { ColumnMap } from '../sources/column-map.js';
import { hasCarNumber, isJsonObject, parseKeepingNumbers, RawNumber } from '../sources/car-json.js';

export type PriceCheck = { ok: true; vin: string; price: string } | { ok: false; error: string };

/** Validates a feed row; the price comes back canonical ("12500", "12500.50"). */
export function checkPriceRow(vin: string | undefined, price: string | undefined, decimal: '.' | ',' = '.'): PriceCheck {
  const v = validateVin(vin);
  const p = validatePrice(price, decimal);
  if (v.ok && p.ok) return { ok: true, vin: v.vin, price: p.price };
  const errors: string[] = [];
  if (!v.ok) errors.push(v.error);
  if (!p.ok) errors.push(p.error);
  return { ok: false, error: errors.join('; ') };
}

/** The key a row is sharded by: the VIN as it will be stored, or the text given when it is invalid. */
export function vinKey(vin: string | undefined): string {
  return vin === undefined ? '' : vin.trim().toUpperCase();
}

/** A price as the database prints numeric(12,2) ("12500.00"), in the canonical form of validatePrice. */
export function canonicalStoredPrice(stored: string): string {
  return stored.endsWith('.00') ? stored.slice(0, -3) : stored;
}

export interface NdjsonFields {
  /** The values as text, for the check and for the rejects file. */
  vin: string | undefined;
  price: string | undefined;
  /** Set when the line is not a JSON object with the fields. */
  error?: string;
}

/**
 * `{"vin": "...", "price": 12500}`: a number or a string price; anything else is named in `error`.
 * A number keeps the text the feed wrote, as `cars import` keeps it: `1e3` is refused by the price
 * rules (exponent notation), where JSON.parse alone would have made it 1000.
 */
const DEFAULT_KEYS = new ColumnMap();

export function parseNdjsonLine(line: string, keys: ColumnMap = DEFAULT_KEYS): NdjsonFields {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch (e) {
    return { vin: undefined, price: undefined, error: `not valid JSON: ${(e as Error).message}` };
  }
  if (isJsonObject(v) && hasCarNumber(v, keys)) v = parseKeepingNumbers(line); // as parseCarJson does
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    return { vin: undefined, price: undefined, error: `expected a JSON object like {"vin": "...", "price": 12500}, got ${Array.isArray(v) ? 'an array' : v === null ? 'null' : typeof v}` };
  }
  // Keys are read as CSV headers are (aliases, --map); a later duplicate wins, as for cars.
  let vin: unknown;
  let price: unknown;
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    const c = keys.columnOf(k);
    if (c === 'vin') vin = x;
    else if (c === 'price') price = x;
  }
  return { vin: scalarText(vin), price: scalarText(price) };
}

/** JSON scalars as the text a CSV would hold; objects and arrays as JSON (so the check names them). */
export function scalarText(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (v instanceof RawNumber) return v.raw;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}
