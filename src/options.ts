// Option parsers: validated when parsed, with messages that name the accepted range.
// commander prefixes them with "option '--x <n>' argument 'v' is invalid."
import { InvalidArgumentError } from 'commander';

export function intIn(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^-?\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(max === Number.MAX_SAFE_INTEGER ? `Expected an integer from ${min} and up.` : `Expected an integer from ${min} to ${max}.`);
    }
    return n;
  };
}

export function numberIn(min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n < min || n > max) throw new InvalidArgumentError(`Expected a number from ${min} to ${max}.`);
    return n;
  };
}

export function delimiter(v: string): string {
  const map: Record<string, string> = { auto: 'auto', ',': ',', ';': ';', tab: '\t', '\t': '\t', '\\t': '\t', '|': '|', comma: ',', semicolon: ';', pipe: '|' };
  const d = map[v];
  if (!d) throw new InvalidArgumentError("Expected auto, ',', ';', 'tab' or '|'.");
  return d;
}

/** `--decimal`: the decimal mark of prices. */
export function decimalMark(v: string): '.' | ',' {
  const t = v.trim();
  if (t === '.' || t === ',') return t;
  if (t === 'comma') return ',';
  if (t === 'dot' || t === 'point') return '.';
  throw new InvalidArgumentError("Expected '.' or ','.");
}

/** "i/n": shard i of n, 0 <= i < n. */
export function shard(v: string): { index: number; count: number } {
  const m = /^(\d+)\/(\d+)$/.exec(v.trim());
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || count < 1 || count > 1024 || index >= count) throw new InvalidArgumentError('Expected i/n with 0 <= i < n <= 1024, e.g. 0/4.');
  return { index, count };
}

/** `--columns vin,brand,...`: the names of a header-less file's columns, in order. */
export function columnList(v: string): string[] {
  const names = v.split(',').map((c) => c.trim());
  if (names.length === 0 || names.some((c) => c === '')) throw new InvalidArgumentError('Expected column names separated by commas, e.g. vin,brand,model,year,price.');
  return names;
}

/** HTTP statuses that may be retried with --retry-on: 408, 413, 429 and the 5xx; other 4xx are the request's fault. */
export function retryStatuses(v: string): number[] {
  const text = v.trim().toLowerCase();
  if (text === 'none') return [];
  const codes = text.split(',').map((c) => c.trim());
  const ok = (c: string) => /^\d{3}$/.test(c) && (['408', '413', '429'].includes(c) || (Number(c) >= 500 && Number(c) <= 599));
  const bad = codes.find((c) => !ok(c));
  if (bad !== undefined) {
    throw new InvalidArgumentError(`Expected a comma-separated list of 408, 413, 429 or 500-599 (or none), got "${bad}"; other 4xx are never retried.`);
  }
  return [...new Set(codes.map(Number))].sort((a, b) => a - b);
}
