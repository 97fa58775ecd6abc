// `cars search` options as the parameters of the recent_listings named query, and its rows as a
// page with the cursor of the next one. Pure.
import { usage } from '../errors.js';
import { encodeCursor, type Position } from './cursor.js';

/** The options of `cars search`. */
export interface SearchOptions {
  brand?: string;
  model?: string;
  condition?: 'available' | 'sold' | 'reserved';
  minPrice?: number;
  maxPrice?: number;
  yearFrom?: number;
  yearTo?: number;
  limit: number;
  after?: string;
  format: 'table' | 'json' | 'csv';
}

/** The named query behind `cars search`: sql/queries/recent_listings.sql. */
export const LISTING_QUERY = 'recent_listings';
export const MAX_LIMIT = 1000;
/** The table's check constraint on brand and model. */
const MAX_TEXT = 200;

/** A car as `cars search` prints it. */
export interface Listing {
  id: number;
  vin: string;
  brand: string;
  model: string;
  year: number;
  price: number;
  mileage: number | null;
  condition: string;
  color: string | null;
  listed_at: string | null;
  /** Exact, with microseconds: the cursor is made of it. */
  created_at: string;
}

export const LISTING_COLUMNS: Array<keyof Listing> = ['id', 'vin', 'brand', 'model', 'year', 'price', 'mileage', 'condition', 'color', 'listed_at', 'created_at'];

export interface Page {
  items: Listing[];
  /** The cursor for `--after`, or null on the last page. */
  next: string | null;
}

function text(option: string, v: string | undefined): string | null {
  if (v === undefined) return null;
  if (v.length < 1 || v.length > MAX_TEXT) throw usage(`${option} must be 1 to ${MAX_TEXT} characters (got ${v.length})`);
  if (v.includes('\0')) throw usage(`${option} must not contain a NUL character`);
  return v;
}

/** Checks the options that depend on each other; throws a usage error naming them. */
export function checkSearchOptions(o: SearchOptions): void {
  text('--brand', o.brand);
  text('--model', o.model);
  if (!Number.isSafeInteger(o.limit) || o.limit < 1 || o.limit > MAX_LIMIT) throw usage(`--limit must be an integer from 1 to ${MAX_LIMIT} (got ${o.limit})`);
  if (o.minPrice !== undefined && o.maxPrice !== undefined && o.minPrice > o.maxPrice) {
    throw usage(`--min-price ${o.minPrice} is greater than --max-price ${o.maxPrice}`);
  }
  if (o.yearFrom !== undefined && o.yearTo !== undefined && o.yearFrom > o.yearTo) {
    throw usage(`--year-from ${o.yearFrom} is after --year-to ${o.yearTo}`);
  }
}

/**
 * $1..$10 of recent_listings: the filters (null when not asked for), the position after which
 * the page starts, and one row more than the page so that the last page knows it is the last.
 */
export function listingParams(o: SearchOptions, after: Position | null): unknown[] {
  checkSearchOptions(o);
  return [
    o.condition ?? null,
    text('--brand', o.brand),
    text('--model', o.model),
    o.minPrice ?? null,
    o.maxPrice ?? null,
    o.yearFrom ?? null,
    o.yearTo ?? null,
    after?.createdAt ?? null,
    after?.id ?? null,
    o.limit + 1,
  ];
}

/** A row of recent_listings as a Listing. */
export function toListing(r: Record<string, unknown>): Listing {
  const listed = r.listed_at;
  return {
    id: Number(r.id),
    vin: String(r.vin),
    brand: String(r.brand),
    model: String(r.model),
    year: Number(r.year),
    price: Number(r.price),
    mileage: r.mileage === null || r.mileage === undefined ? null : Number(r.mileage),
    condition: String(r.condition),
    color: r.color === null || r.color === undefined ? null : String(r.color),
    listed_at: listed instanceof Date ? listed.toISOString() : listed === null || listed === undefined ? null : String(listed),
    created_at: String(r.created_at),
  };
}

/** The first `limit` rows, and a cursor when there was one more. */
export function toPage(rows: Array<Record<string, unknown>>, limit: number): Page {
  const items = rows.slice(0, limit).map(toListing);
  const last = items[items.length - 1];
  const next = rows.length > limit && last ? encodeCursor({ createdAt: last.created_at, id: last.id }) : null;
  return { items, next };
}
