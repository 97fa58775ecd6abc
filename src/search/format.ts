// A page of `cars search` as stdout shows it: an aligned table, CSV with a header, or JSON
// {"items": [...], "next": cursor | null}. Pure.
import { LISTING_COLUMNS, type Listing, type Page } from './listing.js';
import { printable, VALUE_MAX } from '../text/printable.js';

export type Format = 'table' | 'json' | 'csv';

function cell(l: Listing, k: keyof Listing): string {
  const v = l[k];
  if (v === null) return '';
  if (k === 'price') return (v as number).toFixed(2);
  return String(v);
}

/** RFC 4180: quoted when the cell holds a comma, quote, CR or LF; quotes doubled. */
function csvCell(v: string): string {
  return /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

export function formatCsv(page: Page): string {
  const lines = [LISTING_COLUMNS.join(',')];
  for (const l of page.items) lines.push(LISTING_COLUMNS.map((k) => csvCell(cell(l, k))).join(','));
  return lines.join('\n') + '\n';
}

export function formatJson(page: Page): string {
  return JSON.stringify({ items: page.items, next: page.next }) + '\n';
}

const NUMERIC = new Set<keyof Listing>(['id', 'year', 'price', 'mileage']);

/**
 * Columns padded to their widest cell, numbers right-aligned; the next cursor below. Stored values
 * are shown escaped and cut (a model holding ESC must not drive the terminal); CSV and JSON carry
 * them whole, as data.
 */
export function formatTable(page: Page): string {
  // For reading, not for machines: instants to the second, in UTC as JSON and CSV write them
  // (a listing time is not cut to its day: the table and the data say the same).
  const shown = (l: Listing, k: keyof Listing) => {
    if (k === 'created_at') return l.created_at.slice(0, 19).replace('T', ' ');
    if (k === 'listed_at') return l.listed_at ? l.listed_at.slice(0, 19).replace('T', ' ') : '';
    return printable(cell(l, k), VALUE_MAX);
  };
  const rows = [LISTING_COLUMNS.map(String), ...page.items.map((l) => LISTING_COLUMNS.map((k) => shown(l, k)))];
  const widths = LISTING_COLUMNS.map((_, i) => Math.max(...rows.map((r) => [...r[i]].length)));
  const pad = (v: string, i: number) => {
    const fill = ' '.repeat(widths[i] - [...v].length);
    return NUMERIC.has(LISTING_COLUMNS[i]) ? fill + v : v + fill;
  };
  const out = rows.map((r) => r.map(pad).join('  ').trimEnd());
  if (!page.items.length) out.push('(no cars match)');
  if (page.next) out.push('', `next page: --after ${page.next}`);
  return out.join('\n') + '\n';
}

export function formatPage(page: Page, format: Format): string {
  return format === 'json' ? formatJson(page) : format === 'csv' ? formatCsv(page) : formatTable(page);
}
