// Realistic synthetic car listings as CSV text, the same bytes for the same options.
// Built for load tests (1M rows in about 2 s): rows are joined once per 64 KB chunk, the
// brand/model/color cells are CSV-escaped once at load, and weighted picks are table lookups.
import { usage } from './errors.js';

export interface GenerateOptions {
  count: number;
  seed: number;
  /** 0..1: the share of rows made invalid on purpose, each with one defect. */
  badRate: number;
  /** The oldest model year (default: maxYear - 21). */
  startYear?: number;
  /** The newest model year; pass nextYear(), as the importer accepts up to that. */
  maxYear: number;
  /**
   * listed_at falls in the two years before this instant. Default: January 1 of maxYear - 1,
   * so that the output depends on the options alone.
   */
  now?: Date;
}

export const CSV_HEADER = 'vin,brand,model,year,price,mileage,condition,color,listed_at';
const CHUNK_CHARS = 64 * 1024;
const LISTED_DAYS = 730;
const TABLE = 1024; // weighted picks: an index table of this size per distribution


interface Model {
  name: string;
  weight: number;
  /** Price of a new one. */
  newPrice: number;
  /** The first model year it was sold (0: long before startYear). */
  since: number;
}

interface Brand {
  name: string;
  weight: number;
  /** World manufacturer identifier: the first three characters of the VIN. */
  wmi: string;
  models: Model[];
}

const m = (name: string, weight: number, newPrice: number, since = 0): Model => ({ name, weight, newPrice, since });

const BRANDS: Brand[] = [
  { name: 'Toyota', weight: 15, wmi: 'JTD', models: [m('Corolla', 30, 24000), m('Camry', 18, 29000), m('RAV4', 25, 33000), m('Yaris', 15, 20000), m('Prius', 8, 31000), m('Land Cruiser', 4, 62000)] },
  { name: 'Ford', weight: 12, wmi: '1FA', models: [m('Focus', 25, 23000), m('F-150', 25, 46000), m('Mustang', 10, 38000), m('Fiesta', 15, 18000), m('Kuga', 12, 33000), m('Explorer', 8, 43000), m('F-150, Lightning', 2, 62000, 2022)] },
  { name: 'Volkswagen', weight: 12, wmi: 'WVW', models: [m('Golf', 35, 28000), m('Passat', 20, 35000), m('Polo', 18, 20000), m('Tiguan', 18, 36000, 2008), m('ID.4', 6, 42000, 2021), m('Golf, GTI', 4, 38000)] },
  { name: 'BMW', weight: 7, wmi: 'WBA', models: [m('3 Series', 35, 45000), m('5 Series', 18, 58000), m('X3', 18, 50000), m('X5', 14, 68000), m('1 Series', 10, 33000), m('i4', 5, 56000, 2021)] },
  { name: 'Mercedes-Benz', weight: 7, wmi: 'WDD', models: [m('C-Class', 35, 46000), m('E-Class', 22, 60000), m('A-Class', 22, 35000), m('GLC', 16, 52000, 2016), m('S-Class', 5, 110000)] },
  { name: 'Honda', weight: 8, wmi: '1HG', models: [m('Civic', 40, 25000), m('Accord', 20, 30000), m('CR-V', 30, 33000), m('Jazz', 10, 20000)] },
  { name: 'Škoda', weight: 6, wmi: 'TMB', models: [m('Octavia', 45, 28000), m('Fabia', 20, 19000), m('Superb', 15, 36000), m('Kodiaq', 14, 39000, 2017), m('Enyaq', 6, 45000, 2021)] },
  { name: 'Hyundai', weight: 7, wmi: 'KMH', models: [m('i30', 30, 24000), m('Tucson', 35, 31000), m('Kona', 25, 26000, 2018), m('Ioniq 5', 10, 46000, 2022)] },
  { name: 'Kia', weight: 6, wmi: 'KNA', models: [m('Sportage', 40, 30000), m('Ceed', 30, 24000), m('Niro', 20, 31000, 2017), m('EV6', 10, 48000, 2022)] },
  { name: 'Nissan', weight: 6, wmi: 'SJN', models: [m('Qashqai', 40, 30000, 2007), m('Micra', 20, 17000), m('Leaf', 15, 33000, 2011), m('X-Trail', 25, 35000)] },
  { name: 'Tesla', weight: 4, wmi: '5YJ', models: [m('Model 3', 45, 42000, 2017), m('Model Y', 35, 47000, 2020), m('Model S', 8, 85000, 2012), m('Model S, Plaid', 4, 105000, 2021), m('Model X', 8, 95000, 2016)] },
  { name: 'Audi', weight: 5, wmi: 'WAU', models: [m('A3', 30, 35000), m('A4', 30, 44000), m('Q5', 25, 52000, 2009), m('A6 Avant', 15, 60000)] },
  { name: 'Volvo', weight: 3, wmi: 'YV1', models: [m('XC60', 45, 50000, 2009), m('XC90', 25, 65000), m('V60', 30, 45000)] },
  { name: 'Peugeot', weight: 4, wmi: 'VF3', models: [m('208', 40, 21000), m('308', 35, 28000), m('3008', 25, 35000, 2009)] },
];

const COLORS: Array<[string, number]> = [
  ['White', 20], ['Black', 18], ['Gray', 15], ['Silver', 12], ['Blue', 10], ['Red', 8], ['', 4],
  ['Green', 3], ['Brown', 2], ['Beige', 2], ['Orange', 1], ['Yellow', 1], ['Blue, metallic', 3],
  ['Pearl White "Multi-Coat"', 1],
];

const BAD_KINDS = 7;

// VIN characters (no I, O, Q) and the ISO 3779 check-digit transliteration of each.
const VIN_ALPHABET = '0123456789ABCDEFGHJKLMNPRSTUVWXYZ';
const VIN_VALUE = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 7, 9, 2, 3, 4, 5, 6, 7, 8, 9];
const VIN_CODE = Array.from(VIN_ALPHABET, (c) => c.charCodeAt(0));
const VIN_WEIGHTS = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2];
// Position 10 of a VIN: the model year, a 30-year cycle from 1980 (A) without I, O, Q, U, Z, 0.
const YEAR_CODES = 'ABCDEFGHJKLMNPRSTVWXY123456789';
const YEAR_CODE = Array.from(YEAR_CODES, (c) => c.charCodeAt(0));
const YEAR_VALUE = Array.from(YEAR_CODES, (c) => VIN_VALUE[VIN_ALPHABET.indexOf(c)]);

/** RFC 4180: quoted when the cell holds a comma, quote, CR or LF; quotes doubled. */
function csvCell(v: string): string {
  return /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}


/** A table of TABLE indexes, each index appearing in proportion to its weight. */
function pickTable(weights: number[]): Uint8Array {
  const total = weights.reduce((a, b) => a + b, 0);
  const t = new Uint8Array(TABLE);
  let acc = 0;
  let k = 0;
  for (let i = 0; i < weights.length; i++) {
    acc += weights[i];
    const end = Math.round((acc / total) * TABLE);
    for (; k < end; k++) t[k] = i;
  }
  return t;
}

interface ModelOut {
  since: number;
  brandCell: string;
  modelCell: string;
  newPrice: number;
  /** WMI plus three fixed descriptor characters: VIN positions 1-6. */
  vinPrefix: string;
  /** Their weighted contribution to the check digit. */
  vinPrefixSum: number;
}

// Flattened once at load: brand pick -> model table -> everything a row needs of its model.
const BRAND_TABLE = pickTable(BRANDS.map((b) => b.weight));
const MODEL_TABLES: Uint8Array[] = BRANDS.map((b) => pickTable(b.models.map((x) => x.weight)));
const MODELS: ModelOut[][] = BRANDS.map((b, bi) =>
  b.models.map((x, mi) => {
    // Vehicle descriptor: three characters fixed per model, so one model's VINs look alike.
    let h = Math.imul(bi + 1, 0x9e3779b1) ^ Math.imul(mi + 7, 0x85ebca6b);
    let vds = '';
    for (let i = 0; i < 3; i++) {
      h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 0;
      vds += VIN_ALPHABET[10 + (h % 23)];
    }
    const prefix = b.wmi + vds;
    let sum = 0;
    for (let i = 0; i < 6; i++) sum += VIN_VALUE[VIN_ALPHABET.indexOf(prefix[i])] * VIN_WEIGHTS[i];
    return { since: x.since, brandCell: csvCell(b.name), modelCell: csvCell(x.name), newPrice: x.newPrice, vinPrefix: prefix, vinPrefixSum: sum };
  }),
);
const COLOR_TABLE = pickTable(COLORS.map((c) => c[1]));
const COLOR_CELLS = COLORS.map((c) => csvCell(c[0]));
/** 0.9^(age - 1): the share of its first-year value a car keeps. */
const DEPRECIATION = Array.from({ length: 61 }, (_, age) => Math.pow(0.9, Math.max(0, age - 1)));
const PAD2 = Array.from({ length: 60 }, (_, i) => (i < 10 ? '0' : '') + i);

function fail(option: string, expected: string, got: unknown): never {
  throw usage(`generate: expected \`${option}\` to be ${expected}, got ${String(got)}`);
}

/** mulberry32: tiny, fast, and good enough for test data. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** A bijection on 32-bit integers (lowbias32), so distinct inputs give distinct outputs. */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d);
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
  return (x ^ (x >>> 16)) >>> 0;
}

function formatThousands(n: number): string {
  const s = String(n);
  let out = '';
  for (let i = 0; i < s.length; i++) {
    if (i > 0 && (s.length - i) % 3 === 0) out += ',';
    out += s[i];
  }
  return out;
}

/**
 * Yields the CSV in chunks of about 64 KB, the header line first. Every VIN is distinct for a
 * seed: positions 11-17 encode a bijective mix of the row number, the rest follows the real
 * layout (manufacturer, model descriptor, check digit, model-year code). Options are checked
 * when called, before the first chunk is asked for.
 */
export function generateCsv(opts: GenerateOptions): Generator<string> {
  const { count, seed, badRate, maxYear } = opts;
  if (!Number.isSafeInteger(count) || count < 0 || count > 0xffffffff) fail('count', 'a whole number from 0 to 4294967295', count);
  if (!Number.isSafeInteger(seed)) fail('seed', 'a whole number', seed);
  if (typeof badRate !== 'number' || !(badRate >= 0 && badRate <= 1)) fail('badRate', 'a number from 0 to 1', badRate);
  if (!Number.isSafeInteger(maxYear) || maxYear < 1886) fail('maxYear', 'a whole number from 1886 and up', maxYear);
  const startYear = opts.startYear ?? Math.max(1886, maxYear - 21);
  if (!Number.isSafeInteger(startYear) || startYear < 1886 || startYear > maxYear) fail('startYear', `a whole number from 1886 to ${maxYear}`, startYear);
  const end = opts.now ?? new Date(Date.UTC(maxYear - 1, 0, 1));
  if (!(end instanceof Date) || Number.isNaN(end.getTime())) fail('now', 'a valid Date', end);

  const seedLo = seed >>> 0;
  const seedHi = Math.floor(seed / 0x100000000) >>> 0;
  const next = mulberry32(mix32(seedLo ^ 0xa5a5a5a5) ^ mix32(seedHi + 0x3c6ef372));
  const vinXor = mix32(seedLo + 0x9e3779b9) ^ seedHi;
  const vinAdd = mix32(seedHi ^ 0x7f4a7c15) ^ seedLo;

  // listed_at: the last LISTED_DAYS days before `end`; a car is not listed before the year
  // ahead of its model year.
  const endDay = Math.floor(end.getTime() / 86400000);
  const firstDay = endDay - LISTED_DAYS;
  const days: string[] = [];
  for (let d = firstDay; d < endDay; d++) days.push(new Date(d * 86400000).toISOString().slice(0, 10));
  const thisYear = maxYear - 1; // the year most listings' ages count from
  const oldestFirst = new Int32Array(maxYear - startYear + 1);
  for (let y = startYear; y <= maxYear; y++) {
    const d = Math.floor(Date.UTC(y - 1, 0, 1) / 86400000) - firstDay;
    oldestFirst[y - startYear] = Math.min(Math.max(d, 0), LISTED_DAYS - 1);
  }
  const ageSpan = Math.max(0, thisYear - startYear + 1);
  const badLimit = badRate * 4294967296;

  return emit();

  function* emit(): Generator<string> {
    // Rows are joined once per chunk: cheaper than growing one string row by row.
    let rows: string[] = [CSV_HEADER + '\n'];
    let chars = 0;
    const tail = new Array<number>(11); // VIN positions 7-17 as character codes
    for (let i = 0; i < count; i++) {
      const rb = next();
      const bi = BRAND_TABLE[rb >>> 22];
      const model = MODELS[bi][MODEL_TABLES[bi][(rb >>> 12) & 1023]];

      // Model year: ages peak at 2-5 years with a long tail (the square of a triangular draw),
      // and a few of next year's models.
      let year = maxYear;
      if (ageSpan > 0 && next() % 50 !== 0) {
        const u = (next() + next()) / 8589934592;
        year = thisYear - Math.floor(u * u * ageSpan);
      }
      // No Model 3 of 2014: fold years before the model existed into the years since.
      if (year < model.since && model.since <= thisYear) year = thisYear - ((thisYear - year) % (thisYear - model.since + 1));
      const age = year >= thisYear ? 0 : thisYear - year;

      // VIN: 1-6 from the model, 7-8 random, 9 check digit, 10 model year, 11-17 the row's number.
      const rv = next();
      const c7 = rv % 33;
      const c8 = (rv >>> 16) % 33;
      const yc = (((year - 1980) % 30) + 30) % 30;
      let sum = model.vinPrefixSum + VIN_VALUE[c7] * 2 + VIN_VALUE[c8] * 10 + YEAR_VALUE[yc] * 9;
      let u = (mix32((i ^ vinXor) >>> 0) + vinAdd) >>> 0;
      for (let k = 16; k >= 10; k--) {
        const d = u % 33;
        u = (u - d) / 33;
        tail[k - 6] = VIN_CODE[d];
        sum += VIN_VALUE[d] * VIN_WEIGHTS[k];
      }
      const check = sum % 11;
      tail[0] = VIN_CODE[c7];
      tail[1] = VIN_CODE[c8];
      tail[2] = check === 10 ? 88 /* X */ : 48 + check;
      tail[3] = YEAR_CODE[yc];
      let vin = model.vinPrefix + String.fromCharCode(tail[0], tail[1], tail[2], tail[3], tail[4], tail[5], tail[6], tail[7], tail[8], tail[9], tail[10]);

      // Mileage: 7,000 to 19,000 a year; new cars have delivery kilometres only.
      const rm = next();
      let mileage: number;
      if (age === 0) mileage = rm % 10 < 8 ? (rm >>> 8) % 150 : (rm >>> 8) % 9000;
      else mileage = age * (7000 + ((rm >>> 4) % 12000)) + ((rm >>> 18) % 5000);
      let mileageCell = rm % 32 === 31 ? '' : String(mileage);

      // Price: depreciation by age and use, some noise, then a dealer's rounding.
      const rp = next();
      const noise = 0.88 + ((rp >>> 8) / 16777216) * 0.24;
      let value = model.newPrice * (age === 0 ? 0.97 : 0.85 * DEPRECIATION[Math.min(age, 60)]) * noise * (1 - Math.min(0.25, mileage / 1200000));
      if (value < 800) value = 800 + (rp >>> 22);
      const hundreds = Math.round(value / 100);
      const style = rp & 15;
      let price: string;
      if (style < 8) price = String(hundreds * 100);
      else if (style < 12) price = String(hundreds * 100 - 10);
      else if (style < 14) price = String(Math.round(value / 50) * 50);
      else price = style === 14 ? `${hundreds * 100 - 1}.99` : `${hundreds * 100}.50`;

      const rc = next();
      const cr = rc % 100;
      let condition = cr < 84 ? 'available' : cr < 94 ? 'sold' : 'reserved';
      const colorCell = COLOR_CELLS[COLOR_TABLE[(rc >>> 8) & 1023]];
      const listedKind = (rc >>> 20) % 20; // 0: empty, 1-3: timestamp, else a date
      let listed = '';
      if (listedKind !== 0) {
        const lo = oldestFirst[year - startYear];
        const day = days[lo + Math.floor((next() / 4294967296) * (LISTED_DAYS - lo))];
        if (listedKind > 3) listed = day;
        else {
          const rt = next();
          listed = `${day}T${PAD2[rt % 24]}:${PAD2[(rt >>> 8) % 60]}:${PAD2[(rt >>> 16) % 60]}Z`;
        }
      }

      let brandCell = model.brandCell;
      let yearCell = year;
      // Drawn for every row, so a seed gives the same rows whatever the bad rate.
      const rbad = next();
      if (rbad < badLimit) {
        switch (rbad % BAD_KINDS) {
          case 0: vin = vin.slice(0, 16); break;
          case 1: vin = vin.slice(0, 11) + 'O' + vin.slice(12); break;
          case 2: yearCell = 1700; break;
          case 3: price = `"$${formatThousands(hundreds * 100)}"`; break;
          case 4: mileageCell = `-${mileage || 1}`; break;
          case 5: condition = 'broken'; break;
          default: brandCell = ''; break;
        }
      }

      const row = `${vin},${brandCell},${model.modelCell},${yearCell},${price},${mileageCell},${condition},${colorCell},${listed}\n`;
      rows.push(row);
      chars += row.length;
      if (chars >= CHUNK_CHARS) {
        yield rows.join('');
        rows = [];
        chars = 0;
      }
    }
    if (rows.length > 0) yield rows.join('');
  }
}
