// The car: its columns, the rules of its fields (validation of one record: a CarRow ready for
// the database, or every reason it is not), the newest model year, and the VIN hash that picks a
// writer lane. Every layer that handles cars (sources, import, sync, generate) takes them from here.
// Pure and allocation-light: it runs once per input row, millions of times per import. The fast
// path is one precompiled regex per field; the slower diagnosis (which rule, what to write
// instead) runs only for values that already failed.

export const REQUIRED_COLUMNS = ['vin', 'brand', 'model', 'year', 'price'] as const;
export const OPTIONAL_COLUMNS = ['mileage', 'condition', 'color', 'listed_at'] as const;
export const CAR_COLUMNS = [...REQUIRED_COLUMNS, ...OPTIONAL_COLUMNS];

export type CarColumn = (typeof CAR_COLUMNS)[number];
export type Condition = 'available' | 'sold' | 'reserved';

export interface CarRow {
  /** 17 characters of [A-HJ-NPR-Z0-9], upper-case. */
  vin: string;
  brand: string;
  model: string;
  year: number;
  /** Canonical decimal text: no leading zeros, and either no decimals or exactly two ("12500", "12500.50"). */
  price: string;
  mileage: number | null;
  condition: Condition;
  color: string | null;
  /** The ISO 8601 text as given, trimmed. */
  listed_at: string | null;
}

export type Validation = { ok: true; row: CarRow } | { ok: false; error: string };

export interface ValidateOptions {
  /** The latest model year accepted; callers pass next year (see nextYear in generate.ts). */
  maxYear: number;
  /** The decimal mark of prices (`--decimal`): '.' by default, ',' for 12500,50. */
  decimal?: '.' | ',';
}

export const MIN_YEAR = 1886; // the Benz Patent-Motorwagen
export const MAX_TEXT_CHARS = 200;
export const MAX_MILEAGE = 2147483647; // PostgreSQL integer
export const PRICE_LIMIT_DIGITS = 10; // numeric(12,2): below 10^10

const VIN_RE = /^[A-HJ-NPR-Za-hj-npr-z0-9]{17}$/;
const VIN_UPPER_RE = /^[A-HJ-NPR-Z0-9]{17}$/;
const VIN_CHAR_RE = /[A-HJ-NPR-Za-hj-npr-z0-9]/;
/** A VIN byte, upper-cased; 0 for a byte no VIN has (the byte readers' form of VIN_RE). */
export const VIN_BYTE = new Uint8Array(256);
for (const ch of 'ABCDEFGHJKLMNPRSTUVWXYZ0123456789') {
  VIN_BYTE[ch.charCodeAt(0)] = ch.charCodeAt(0);
  VIN_BYTE[ch.toLowerCase().charCodeAt(0)] = ch.charCodeAt(0);
}
const IOQ_RE = /[IOQioq]/;
const PRICE_RE = /^(\d+)(?:\.(\d{1,2}))?$/;
const PRICE_COMMA_RE = /^(\d+)(?:,(\d{1,2}))?$/;
const MINUS_ZERO_RE = /^-0+(?:\.0{1,2})?$/;
const MINUS_ZERO_COMMA_RE = /^-0+(?:,0{1,2})?$/;
const DIGITS_RE = /^\d+$/;
const NEGATIVE_INT_RE = /^-\d+$/;
// After the date (2024-03-01): T10:00, T10:00:00.123Z, " 10:00:00+02", ...+0200, ...+02:00
const TIME_RE = /[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:[Zz]|[+-](\d{2})(?::?(\d{2}))?)?$/y;

// Only for values that already failed the fast path.
const CURRENCY_SIGN_RE = /\p{Sc}/u;
const CURRENCY_CODES = 'USD|EUR|GBP|CHF|JPY|CNY|RMB|CAD|AUD|NZD|SEK|NOK|DKK|ISK|PLN|CZK|HUF|RON|BGN|HRK|TRY|RUB|UAH|INR|BRL|MXN|ZAR|KRW|SGD|HKD|AED|SAR|ILS|kr|Kč|zł|Ft|lei';
const CURRENCY_CODE_RE = new RegExp(`(?:^|[^\\p{L}])(?:${CURRENCY_CODES})\\.?(?:$|[^\\p{L}])`, 'iu');
const CURRENCY_STRIP_RE = new RegExp(`\\p{Sc}|(?:^|(?<=[^\\p{L}]))(?:${CURRENCY_CODES})\\.?(?=$|[^\\p{L}])`, 'giu');
// 12,500  12.500,00  12 500  1'234'567.89 (a group separator, then an optional other decimal mark)
const GROUPED_RE = /^(\d{1,3})([,. '’\u00a0\u202f])(\d{3}(?:\2\d{3})*)(?:([.,])(\d{1,2}))?$/;
const DECIMAL_COMMA_RE = /^(\d+),(\d{1,2})$/;
const EXPONENT_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)[eE][+-]?\d+$/;
const MANY_DECIMALS_RE = /^\d+\.\d{3,}$/;
const NUMBER_RE = /^(?:\d+\.?\d*|\.\d+)$/;
const WITH_UNIT_RE = /^\d+\s*(?:km|kms|mi|miles?)\.?$/i;

const ISO_EXAMPLE = 'like 2024-03-01 or 2024-03-01T10:00:00Z';
const DAYS_IN_MONTH = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Quotes a value for a message, cut to 40 characters. */
export function quote(v: string): string {
  if (v.length > 40) {
    const cps = Array.from(v);
    if (cps.length > 40) return JSON.stringify(cps.slice(0, 40).join('') + '…');
  }
  return JSON.stringify(v);
}

function codePoints(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}

export function validateVin(v: string | undefined): { ok: true; vin: string } | { ok: false; error: string } {
  const t = v === undefined ? '' : v.trim();
  if (VIN_UPPER_RE.test(t)) return { ok: true, vin: t };
  if (VIN_RE.test(t)) return { ok: true, vin: t.toUpperCase() };
  return { ok: false, error: vinError(t) };
}

function vinError(t: string): string {
  if (t === '') return 'vin is required';
  const n = codePoints(t);
  if (n !== 17) return `vin ${quote(t)} must be 17 characters, got ${n}`;
  if (IOQ_RE.test(t)) return `vin ${quote(t)} contains I, O or Q, which VINs never use`;
  for (const ch of t) {
    if (!VIN_CHAR_RE.test(ch)) return `vin ${quote(t)} contains ${quote(ch)}; a VIN has only digits and the letters A-Z except I, O and Q`;
  }
  return `vin ${quote(t)} is not a valid VIN`;
}

export function validatePrice(v: string | undefined, decimal: '.' | ',' = '.'): { ok: true; price: string } | { ok: false; error: string } {
  const t = v === undefined ? '' : v.trim();
  const m = (decimal === ',' ? PRICE_COMMA_RE : PRICE_RE).exec(t);
  // Minus zero is zero (some exports write a free car's price as -0.00).
  if (m === null && (decimal === ',' ? MINUS_ZERO_COMMA_RE : MINUS_ZERO_RE).test(t)) return { ok: true, price: '0' };
  if (m !== null) {
    const price = canonicalPrice(m[1], m[2]);
    if (price !== null) return { ok: true, price };
    return { ok: false, error: `price ${quote(t)} is too large; it must be below 10000000000` };
  }
  return { ok: false, error: decimal === ',' ? priceErrorComma(t) : priceError(t) };
}

/** Why a price is refused when the decimal mark is a comma (`--decimal ,`); suggestions written that way. */
function priceErrorComma(t: string): string {
  const q = quote(t);
  if (/^\d+\.\d{1,2}$/.test(t)) return `price ${q} has "." as the decimal mark, but --decimal , says prices use ","; write ${t.replace('.', ',')}`;
  const g = GROUPED_RE.exec(t);
  if (g !== null && g[2] === ',' && g[4] === undefined && !g[3].includes(',') && g[1] !== '0') {
    return `price ${q} has more than 2 decimals (or "," separates thousands; then write ${g[1]}${g[3]})`;
  }
  return priceError(t).replace(/ like (\d+)\.(\d\d)\b/, ' like $1,$2');
}

/** "0012500" + "5" -> "12500.50"; a zero fraction is dropped so one value has one text. null when >= 10^10. */
function canonicalPrice(int: string, frac: string | undefined): string | null {
  let i = 0;
  while (i < int.length - 1 && int.charCodeAt(i) === 48) i++;
  if (i > 0) int = int.slice(i);
  if (int.length > PRICE_LIMIT_DIGITS) return null;
  if (frac === undefined || frac === '0' || frac === '00') return int;
  return frac.length === 1 ? `${int}.${frac}0` : `${int}.${frac}`;
}

function priceError(t: string): string {
  if (t === '') return 'price is required';
  const q = quote(t);
  if (CURRENCY_SIGN_RE.test(t) || CURRENCY_CODE_RE.test(t)) {
    const plain = plainPrice(t.replace(CURRENCY_STRIP_RE, '').trim());
    return `price ${q} has a currency sign; write a plain number like ${plain ?? '12500'}`;
  }
  if (t.charCodeAt(0) === 45 /* - */ || (t.startsWith('(') && t.endsWith(')'))) return `price ${q} is negative; it must be 0 or more`;
  if (EXPONENT_RE.test(t)) {
    const n = Number(t);
    const plain = Number.isFinite(n) && n >= 0 && Math.abs(n * 100 - Math.round(n * 100)) < 1e-6 ? plainPrice(n.toFixed(2)) : null;
    return `price ${q} uses exponent notation; write a plain number${plain ? ` like ${plain}` : ''}`;
  }
  const g = GROUPED_RE.exec(t);
  // (A first group of 0 is no thousands: "0.001" has three decimals.)
  if (g !== null && g[2] !== g[4] && g[1] !== '0') {
    // "12.345" is either three decimals or a dot grouping thousands: say both.
    if (g[2] === '.' && g[4] === undefined && !g[3].includes('.')) {
      return `price ${q} has more than 2 decimals (or "." separates thousands; then write ${g[1]}${g[3]})`;
    }
    return `price ${q} has a thousands separator; write a plain number like ${plainPrice(t) ?? '12500'}`;
  }
  const dc = DECIMAL_COMMA_RE.exec(t);
  if (dc !== null) return `price ${q} uses a comma as the decimal mark; import with --decimal , (or write ${canonicalPrice(dc[1], dc[2]) ?? `${dc[1]}.${dc[2]}`})`;
  if (MANY_DECIMALS_RE.test(t)) return `price ${q} has more than 2 decimals`;
  if (t.charCodeAt(0) === 43 /* + */) return `price ${q} has a sign; write a plain number like ${plainPrice(t.slice(1)) ?? '12500'}`;
  if (NUMBER_RE.test(t)) return `price ${q} is not a plain number; write it like ${plainPrice(t.startsWith('.') ? '0' + t : t.replace(/\.$/, '')) ?? '12500.50'}`;
  return `price ${q} is not a number; write a plain number like 12500 or 12500.50`;
}

/** The plain form of a price written with separators, or null when there is none. */
function plainPrice(s: string): string | null {
  const m = PRICE_RE.exec(s);
  if (m !== null) return canonicalPrice(m[1], m[2]);
  const g = GROUPED_RE.exec(s);
  if (g !== null && g[2] !== g[4]) return canonicalPrice(g[1] + g[3].split(g[2]).join(''), g[5]);
  const dc = DECIMAL_COMMA_RE.exec(s);
  if (dc !== null) return canonicalPrice(dc[1], dc[2]);
  return null;
}

function yearError(t: string, maxYear: number): string {
  if (t === '') return 'year is required';
  if (DIGITS_RE.test(t) || NEGATIVE_INT_RE.test(t)) return `year ${quote(t)} must be between ${MIN_YEAR} and ${maxYear}`;
  return `year ${quote(t)} is not a whole number; it must be between ${MIN_YEAR} and ${maxYear}`;
}

function mileageError(t: string): string {
  const q = quote(t);
  if (NEGATIVE_INT_RE.test(t)) return `mileage ${q} is negative; it must be 0 or more`;
  if (DIGITS_RE.test(t)) return `mileage ${q} is too large; it must be at most ${MAX_MILEAGE}`;
  const g = GROUPED_RE.exec(t);
  if (g !== null && g[4] === undefined) return `mileage ${q} has a thousands separator; write a whole number like ${g[1]}${g[3].split(g[2]).join('')}`;
  if (WITH_UNIT_RE.test(t)) return `mileage ${q} has a unit; write the number only, like ${/^\d+/.exec(t)![0]}`;
  return `mileage ${q} is not a whole number`;
}

/** The number written by n ASCII digits at t[at], or -1 when one of them is not a digit. */
function digitsAt(t: string, at: number, n: number): number {
  let v = 0;
  for (let i = at; i < at + n; i++) {
    const c = t.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

/** null when the ISO text names a real date and time between MIN_YEAR and maxYear, otherwise why not. */
function listedAtError(t: string, maxYear: number): string | null {
  // The date by hand (most values are just a date), the rest of a timestamp by a sticky regex.
  const y = t.length >= 10 && t.charCodeAt(4) === 45 && t.charCodeAt(7) === 45 ? digitsAt(t, 0, 4) : -1;
  const mo = y < 0 ? -1 : digitsAt(t, 5, 2);
  const d = mo < 0 ? -1 : digitsAt(t, 8, 2);
  let m: RegExpExecArray | null = null;
  if (d >= 0 && t.length > 10) {
    TIME_RE.lastIndex = 10;
    m = TIME_RE.exec(t);
  }
  if (d < 0 || (t.length > 10 && m === null)) return `listed_at ${quote(t)} is not an ISO 8601 date or timestamp (${ISO_EXAMPLE})`;
  const leap = y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  if (y === 0 || mo < 1 || mo > 12 || d < 1 || d > (mo === 2 && leap ? 29 : DAYS_IN_MONTH[mo])) {
    return `listed_at ${quote(t)} is not a real calendar date`;
  }
  if (y < MIN_YEAR || y > maxYear) return `listed_at ${quote(t)} must be in the years ${MIN_YEAR} to ${maxYear}`;
  if (m === null) return null;
  if (+m[1] > 23 || +m[2] > 59 || (m[3] !== undefined && +m[3] > 59)) return `listed_at ${quote(t)} has an impossible time of day`;
  if (m[4] !== undefined && (+m[4] > 15 || (m[5] !== undefined && +m[5] > 59))) return `listed_at ${quote(t)} has an impossible UTC offset`;
  return null;
}

/** null when the text is fine; brand and model are required, color is not. */
function textError(field: string, t: string, required: boolean): string | null {
  if (t === '') return required ? `${field} is required` : null;
  // PostgreSQL text cannot hold NUL; COPY would refuse the whole batch.
  if (t.indexOf('\0') !== -1) return `${field} ${quote(t)} contains a NUL character, which the database cannot store`;
  if (t.length > MAX_TEXT_CHARS) {
    const n = codePoints(t);
    if (n > MAX_TEXT_CHARS) return `${field} ${quote(t)} is ${n} characters long; at most ${MAX_TEXT_CHARS} are allowed`;
  }
  return null;
}

function conditionOf(v: string | undefined): Condition | null {
  if (v === undefined || v === '' || v === 'available') return 'available';
  if (v === 'sold' || v === 'reserved') return v;
  const t = v.trim().toLowerCase();
  if (t === '' || t === 'available') return 'available';
  if (t === 'sold' || t === 'reserved') return t;
  return null;
}

/**
 * Checks one record (column name -> text; undefined means the column is absent, same as empty).
 * Reports every bad field, in column order, joined by "; ".
 */
export function validateCar(rec: Record<string, string | undefined>, opts: ValidateOptions): Validation {
  return validateFields(rec.vin, rec.brand, rec.model, rec.year, rec.price, rec.mileage, rec.condition, rec.color, rec.listed_at, opts);
}

/** validateCar, field by field (CAR_COLUMNS order): the importer's hot path builds no record object. */
export function validateFields(
  vinIn: string | undefined,
  brandIn: string | undefined,
  modelIn: string | undefined,
  yearIn: string | undefined,
  priceIn: string | undefined,
  mileageIn: string | undefined,
  conditionIn: string | undefined,
  colorIn: string | undefined,
  listedIn: string | undefined,
  opts: ValidateOptions,
): Validation {
  let errors: string[] | undefined;

  const vinText = vinIn === undefined ? '' : vinIn.trim();
  let vin = vinText;
  if (!VIN_UPPER_RE.test(vinText)) {
    if (VIN_RE.test(vinText)) vin = vinText.toUpperCase();
    else (errors ??= []).push(vinError(vinText));
  }

  const brand = brandIn === undefined ? '' : brandIn.trim();
  let e = textError('brand', brand, true);
  if (e !== null) (errors ??= []).push(e);

  const model = modelIn === undefined ? '' : modelIn.trim();
  e = textError('model', model, true);
  if (e !== null) (errors ??= []).push(e);

  const yearText = yearIn === undefined ? '' : yearIn.trim();
  const year = DIGITS_RE.test(yearText) ? +yearText : NaN;
  if (!(year >= MIN_YEAR && year <= opts.maxYear)) (errors ??= []).push(yearError(yearText, opts.maxYear));

  const p = validatePrice(priceIn, opts.decimal);
  if (!p.ok) (errors ??= []).push(p.error);

  let mileage: number | null = null;
  const mileageText = mileageIn === undefined ? '' : mileageIn.trim();
  if (mileageText !== '') {
    if (DIGITS_RE.test(mileageText) && +mileageText <= MAX_MILEAGE) mileage = +mileageText;
    else if (/^-0+$/.test(mileageText)) mileage = 0; // minus zero is zero
    else (errors ??= []).push(mileageError(mileageText));
  }

  const condition = conditionOf(conditionIn);
  if (condition === null) (errors ??= []).push(`condition ${quote(conditionIn!.trim())} must be available, sold or reserved`);

  const colorText = colorIn === undefined ? '' : colorIn.trim();
  e = textError('color', colorText, false);
  if (e !== null) (errors ??= []).push(e);

  const listedText = listedIn === undefined ? '' : listedIn.trim();
  if (listedText !== '') {
    e = listedAtError(listedText, opts.maxYear);
    if (e !== null) (errors ??= []).push(e);
  }

  if (errors !== undefined || !p.ok || condition === null) return { ok: false, error: errors!.join('; ') };
  return {
    ok: true,
    row: {
      vin,
      brand,
      model,
      year,
      price: p.price,
      mileage,
      condition,
      color: colorText === '' ? null : colorText,
      listed_at: listedText === '' ? null : listedText,
    },
  };
}

/** The model year a listing may carry at most: dealers list next year's models already. */
export function nextYear(now: Date = new Date()): number {
  return now.getUTCFullYear() + 1;
}

/** 32-bit FNV-1a of the UTF-16 code units, as an unsigned integer: the hash of a VIN that picks its writer lane. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}
