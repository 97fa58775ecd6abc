// cars search through the real binary: keyset pages that add up to the whole listing, also while
// cars are being added; the formats; options refused with exit 2, naming the option.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cars } from '../support/cli.js';
import { connect, freshDatabase, servers, type Server } from '../support/db.js';
import { decodeCursor } from '../../src/search/cursor.js';

const ROWS = 3000;
// Small batches, two workers: many cars share a created_at (one per batch transaction), so pages
// end inside groups of equal created_at and the id tie-breaker has to hold.
const BATCH = 200;

interface Loaded {
  url: string;
  drop: () => Promise<void>;
}
const loaded = new Map<string, Loaded>();
let csv = '';

async function load(server: Server): Promise<Loaded> {
  const db = await freshDatabase(server);
  const r = await cars(['import', '-', '--batch-size', String(BATCH), '--quiet'], { env: { DATABASE_URL: db.url }, input: csv });
  if (r.code !== 0) throw new Error(`cars import failed: ${r.stderr}`);
  return db;
}

beforeAll(async () => {
  const g = await cars(['generate', String(ROWS), '--seed', '11']);
  if (g.code !== 0) throw new Error(g.stderr);
  csv = g.stdout;
  const all = await Promise.all(servers().map(async (s) => [s.name, await load(s)] as const));
  for (const [name, db] of all) loaded.set(name, db);
}, 120_000);

afterAll(async () => {
  for (const db of loaded.values()) await db.drop();
});

interface Car {
  id: number;
  vin: string;
  price: number;
  created_at: string;
}
interface Page {
  items: Car[];
  next: string | null;
}

describe.each(servers())('cars search on $name', (server) => {
  const env = () => ({ DATABASE_URL: loaded.get(server.name)!.url });

  async function page(args: string[]): Promise<Page> {
    const r = await cars(['search', '--format', 'json', ...args], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as Page;
  }

  /** The same listing in one piece, straight from the table. */
  async function whole(where = 'true'): Promise<number[]> {
    const sql = connect(env().DATABASE_URL);
    try {
      const rows = await sql.unsafe(`select id from cars where ${where} order by created_at desc, id desc`);
      return rows.map((r) => Number(r.id));
    } finally {
      await sql.end({ timeout: 5 });
    }
  }

  async function addCars(n: number, tag: string): Promise<void> {
    const sql = connect(env().DATABASE_URL);
    try {
      await sql`
        insert into cars (vin, brand, model, year, price, condition)
        select ${tag} || lpad(i::text, 14, '0'), 'Toyota', 'Corolla', 2024, 15000, 'available'
        from generate_series(1, ${n}::int) i`;
    } finally {
      await sql.end({ timeout: 5 });
    }
  }

  it('pages concatenated are the listing in one piece: no duplicates, no gaps, even with cars added between pages', async () => {
    const expected = await whole();
    expect(expected).toHaveLength(ROWS);
    const seen: number[] = [];
    let after: string | null = null;
    let pages = 0;
    do {
      const p: Page = await page(['--limit', '450', ...(after ? ['--after', after] : [])]);
      seen.push(...p.items.map((c) => c.id));
      after = p.next;
      pages++;
      // Newer cars arrive while someone pages: they belong before page 1, not on later pages.
      if (pages === 1) await addCars(40, 'NEW');
      if (pages === 3) await addCars(25, 'NEX');
    } while (after);
    expect(pages).toBe(Math.ceil(ROWS / 450));
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).toEqual(expected);
    // A fresh first page does show them.
    const first = await page(['--limit', '65']);
    expect(first.items.every((c) => /^NE[WX]/.test(c.vin))).toBe(true);
  });

  it('filters page the same way: brand, condition and a price range', async () => {
    const expected = await whole("brand = 'Toyota' and condition = 'available' and price between 5000 and 30000");
    expect(expected.length).toBeGreaterThan(100);
    const seen: number[] = [];
    let after: string | null = null;
    do {
      const p: Page = await page(['--brand', 'Toyota', '--condition', 'available', '--min-price', '5000', '--max-price', '30000', '--limit', '100', ...(after ? ['--after', after] : [])]);
      for (const c of p.items) expect(c.price).toBeGreaterThanOrEqual(5000);
      seen.push(...p.items.map((c) => c.id));
      after = p.next;
    } while (after);
    expect(seen).toEqual(expected);
  });

  it('the cursor holds the last row of the page, to the microsecond, and works when that row is gone', async () => {
    const p = await page(['--limit', '5']);
    const last = p.items[4];
    expect(last.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(decodeCursor(p.next!)).toEqual({ createdAt: last.created_at, id: last.id });
    const next = await page(['--limit', '5', '--after', p.next!]);
    const sql = connect(env().DATABASE_URL);
    try {
      await sql`delete from cars where id = ${last.id}`;
    } finally {
      await sql.end({ timeout: 5 });
    }
    expect(await page(['--limit', '5', '--after', p.next!])).toEqual(next);
  });

  it('the last page says so: next is null', async () => {
    const p = await page(['--brand', 'Volvo', '--model', 'XC90', '--limit', '1000']);
    expect(p.items.length).toBeGreaterThan(0);
    expect(p.next).toBeNull();
    const none = await page(['--brand', 'No Such Brand']);
    expect(none).toEqual({ items: [], next: null });
  });

  it('csv has a header and one line per car; table is aligned and names the next cursor', async () => {
    const c = await cars(['search', '--format', 'csv', '--limit', '3'], { env: env() });
    expect(c.code).toBe(0);
    const lines = c.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('id,vin,brand,model,year,price,mileage,condition,color,listed_at,created_at');
    expect(lines).toHaveLength(4);
    expect(lines[1]).toMatch(/^\d+,[A-HJ-NPR-Z0-9]{17},/);
    expect(c.stderr).toMatch(/next page: --after [A-Za-z0-9_-]+/);
    const t = await cars(['search', '--limit', '3'], { env: env() });
    expect(t.code).toBe(0);
    const rows = t.stdout.split('\n');
    expect(rows[0]).toMatch(/^ +id {2}vin {16}brand +model +year +price +mileage {2}condition {2}color +listed_at +created_at$/);
    const priceEnd = rows[0].indexOf('price') + 'price'.length;
    for (const r of rows.slice(1, 4)) expect(r.slice(0, priceEnd)).toMatch(/\d+\.\d\d$/);
    expect(t.stdout).toMatch(/\n\nnext page: --after [A-Za-z0-9_-]+\n$/);
  });

  it.each([
    [['--after', 'not-a-cursor!'], /--after: "not-a-cursor!" is not a cursor from cars search/],
    [['--after', Buffer.from('["yesterday", 1]').toString('base64url')], /--after: .*\(created_at is not a UTC instant/],
    [['--min-price', '30000', '--max-price', '20000'], /--min-price 30000 is greater than --max-price 20000/],
    [['--year-from', '2020', '--year-to', '2010'], /--year-from 2020 is after --year-to 2010/],
    [['--limit', '0'], /--limit/],
    [['--limit', '1001'], /--limit/],
    [['--min-price', 'cheap'], /--min-price/],
    [['--year-from', '20x0'], /--year-from/],
    [['--condition', 'new'], /--condition/],
    [['--format', 'xml'], /--format/],
    [['--brand', ''], /--brand must be 1 to 200 characters/],
  ])('%j is a usage error naming the option (exit 2)', async (args, why) => {
    const r = await cars(['search', ...args], { env: env() });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(why);
    expect(r.stdout).toBe('');
  });
});
