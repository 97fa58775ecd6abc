// cars.toml: found in the working directory (or --config / CARS_CONFIG), applied under flags and
// the environment, checked like flags, and shown by `cars config`.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cars, ROOT, tempDir } from '../support/cli.js';
import { connect, freshDatabase, servers } from '../support/db.js';
import { summary } from '../support/import-helpers.js';

const dir = tempDir('cars-config-');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const write = (name: string, text: string) => fs.writeFileSync(path.join(dir, name), text);

describe('cars.toml', () => {
  let url: string;
  let drop: () => Promise<void>;
  beforeAll(async () => ({ url, drop } = await freshDatabase(servers()[0])));
  afterAll(() => drop());
  const run = (args: string[], env: Record<string, string> = {}) => cars(args, { cwd: dir, env: { DATABASE_URL: url, CARS_HOME: dir, ...env } });

  it('applies the [import] table (German headers, decimal commas) from the working directory', async () => {
    write('cars.toml', ['# the Autohaus export', 'pool_max = 7', '', '[import]', 'decimal = ","', 'map = ["Fahrgestellnummer=vin", "Marke=brand", "Modell=model", "Baujahr=year", "Kilometerstand=mileage", "Preis=price", "Farbe=color"]', ''].join('\n'));
    const r = await run(['import', path.join(ROOT, 'fixtures', 'dealers', 'autohaus.csv'), '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(summary(r).rows).toMatchObject({ read: 4, inserted: 4, rejected: 0 });
    const sql = connect(url);
    try {
      expect((await sql`select price::text from cars where brand = 'Audi'`)[0].price).toBe('27450.50');
    } finally {
      await sql.end({ timeout: 5 });
    }
  });

  it('flags win over the environment, which wins over the file, which wins over the defaults; cars config says where each came from', async () => {
    const settings = async (args: string[], env: Record<string, string> = {}) => {
      const r = await run([...args, 'config', '--json'], env);
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout).settings as Array<{ scope: string; name: string; value: unknown; from: string }>;
    };
    const pick = (all: Awaited<ReturnType<typeof settings>>, scope: string, name: string) => all.find((x) => x.scope === scope && x.name === name);
    const fromFile = await settings([]);
    expect(pick(fromFile, 'global', 'pool_max')).toEqual({ scope: 'global', name: 'pool_max', value: 7, from: 'cars.toml:2' });
    expect(pick(fromFile, 'import', 'decimal')).toMatchObject({ value: ',', from: 'cars.toml:5' });
    expect(pick(fromFile, 'import', 'batch_size')).toMatchObject({ value: 10000, from: 'default' });
    expect(pick(await settings([], { CARS_POOL_MAX: '9' }), 'global', 'pool_max')).toMatchObject({ value: 9, from: 'env CARS_POOL_MAX' });
    expect(pick(await settings(['--pool-max', '3'], { CARS_POOL_MAX: '9' }), 'global', 'pool_max')).toMatchObject({ value: 3, from: 'flag' });
    // A password is never shown.
    const withPw = await settings([], { DATABASE_URL: 'postgres://app:s3cr3t@db.example:5432/cars' });
    expect(JSON.stringify(withPw)).not.toContain('s3cr3t');
    expect(pick(withPw, 'global', 'database_url')?.value).toBe('postgres://app@db.example:5432/cars');
  });

  it('--config and CARS_CONFIG name another file; unknown keys and bad values are errors naming the file and line (exit 2)', async () => {
    write('typo.toml', 'pool_max = 5\n[import]\nbatch_sise = 100\n');
    const typo = await run(['--config', 'typo.toml', 'import', 'x.csv']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toMatch(/typo\.toml:3: unknown setting "batch_sise" in \[import\]; known: .*batch_size/);
    write('bad.toml', '[sync-prices]\nrate = -1\n');
    const bad = await run(['sync-prices', '--feed', 'x.csv'], { CARS_CONFIG: path.join(dir, 'bad.toml') });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/bad\.toml:2: rate: Expected a number from/);
    write('table.toml', '[imports]\nbatch_size = 1\n');
    const table = await run(['--config', 'table.toml', 'config']);
    expect(table.code).toBe(2);
    expect(table.stderr).toMatch(/table\.toml:1: unknown table \[imports\]/);
    write('broken.toml', 'pool_max = = 3\n');
    const broken = await run(['--config', 'broken.toml', 'config']);
    expect(broken.code).toBe(2);
    expect(broken.stderr).toMatch(/broken\.toml:1: not valid TOML/);
  });
});
