// Dealer exports as they come (fixtures/dealers): header aliases and --map, encodings, Excel's
// dialects, through the real binary against a real PostgreSQL (18, and 15 when it answers).
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cars, ROOT, tempDir } from '../support/cli.js';
import { type Server, servers, useFreshDatabase } from '../support/db.js';
import { expectBalanced, readCsv, summary } from '../support/import-helpers.js';

const dealer = (f: string) => path.join(ROOT, 'fixtures', 'dealers', f);
const tmp = tempDir('cars-dealers-');
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const file = (name: string, content: string | Buffer) => {
  const f = path.join(tmp, name);
  fs.writeFileSync(f, content);
  return f;
};
const GERMAN_MAP = ['--map', 'Fahrgestellnummer=vin', '--map', 'Marke=brand', '--map', 'Modell=model', '--map', 'Baujahr=year', '--map', 'Kilometerstand=mileage', '--map', 'Preis=price', '--map', 'Farbe=color'];

/** n plain ASCII car lines, VINs numbered from `from`. */
function asciiRows(n: number, from = 0): string {
  let out = '';
  for (let i = from; i < from + n; i++) out += `1HGCM82633A${String(i).padStart(6, '0')},Honda,Accord,2019,${10000 + i}\n`;
  return out;
}

describe.each(servers())('dealer files on $name', (server: Server) => {
  const db = useFreshDatabase(server);
  const run = (args: string[], input?: string | Buffer) => cars(args, { env: { DATABASE_URL: db.url, CARS_HOME: tmp }, input });
  const car = async (vin: string) => (await db.sql`select brand, model, year, price::text, mileage, condition, color, listed_at from cars where vin = ${vin}`)[0];

  it('Excel US (UTF-8 with BOM, CRLF, dealer headers): aliases map, the quotes stay, the mapping is in the summary', async () => {
    const r = await run(['import', dealer('excel-us.csv'), '--json']);
    expect(r.code, r.stderr).toBe(0);
    const s = summary(r);
    expectBalanced(s.rows);
    expect(s.rows).toMatchObject({ read: 6, inserted: 6, rejected: 0 });
    expect(s.encoding).toBe('utf-8');
    expect(s.delimiter).toBe(',');
    expect(s.columns).toEqual({ VIN: 'vin', Make: 'brand', Model: 'model', Year: 'year', Odometer: 'mileage', Price: 'price', 'Exterior Color': 'color', Status: 'condition', 'Date Listed': 'listed_at' });
    expect(s.ignored_columns).toEqual(['Options']);
    expect(r.stderr).toMatch(/ignoring column Options/);
    const rows = await db.sql`select brand, model, mileage, price::text, color, condition from cars order by vin`;
    expect(rows.map((x) => x.model)).toContain('Grand Cherokee "Limited"');
    expect(rows.find((x) => x.brand === 'Tesla')).toMatchObject({ mileage: 12050, price: '31999.99', color: 'Pearl White', condition: 'reserved' });
    expect(rows.find((x) => x.brand === 'Toyota')?.condition).toBe('sold');
  });

  it('Excel Europe (Windows-1252, sep=;, decimal commas): stored exactly with --decimal ,', async () => {
    const lines = fs.readFileSync(dealer('excel-europe.csv'), 'latin1').split('\r\n');
    const vins = lines.slice(2, -1).map((l) => l.split(';')[0]);
    const r = await run(['import', dealer('excel-europe.csv'), '--decimal', ',', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const s = summary(r);
    expect(s.rows).toMatchObject({ read: 5, inserted: 5, rejected: 0 });
    expect(s.encoding).toBe('windows-1252 (detected)');
    expect(s.delimiter).toBe(';');
    expect(r.stderr.match(/not valid UTF-8; reading it as windows-1252/g)).toHaveLength(1);
    expect(await car(vins[0])).toMatchObject({ brand: 'Citroën', model: 'C3 Aircross', price: '15490.50', color: 'Weiß' });
    expect(await car(vins[1])).toMatchObject({ brand: 'Škoda', color: 'Grün', price: '13990.00' });
    expect(await car(vins[3])).toMatchObject({ brand: 'Renault', model: 'Mégane', price: '9800.90' });
    const [{ n }] = await db.sql`select count(*)::int as n from cars where brand || model || coalesce(color, '') like ${'%\ufffd%'}`;
    expect(n).toBe(0);
  });

  it('without --decimal ,: decimal commas are rejected at the file\'s own line (sep= counted) naming the option; the rejects file is UTF-8 with a BOM and loads back', async () => {
    const rejects = path.join(tmp, `${server.name}-europe.rejects.csv`);
    await db.sql`delete from cars`;
    const r = await run(['import', dealer('excel-europe.csv'), '--json', '--rejects', rejects]);
    expect(r.code, r.stderr).toBe(0);
    const s = summary(r);
    expectBalanced(s.rows);
    expect(s.rows).toMatchObject({ read: 5, inserted: 2, rejected: 3 });
    const bytes = fs.readFileSync(rejects);
    expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    const rej = readCsv(rejects);
    // Line 1 is sep=;, line 2 the header: the Citroën is on line 3 of the file.
    expect(rej.map((x) => Number(x.line))).toEqual([3, 5, 6]);
    expect(rej[0].Make).toBe('Citroën');
    expect(rej[0].Price).toBe('15490,50');
    expect(rej[0].error).toMatch(/comma as the decimal mark; import with --decimal ,/);
    const back = await run(['import', rejects, '--decimal', ',', '--json']);
    expect(back.code, back.stderr).toBe(0);
    expect(summary(back).encoding).toBe('utf-8'); // the BOM says so
    expect(summary(back).rows).toMatchObject({ read: 3, inserted: 3, rejected: 0 });
    expect(back.stderr).not.toMatch(/ignoring column/);
    const [{ brand }] = await db.sql`select brand from cars where price = 15490.50`;
    expect(brand).toBe('Citroën');
  });

  it('German headers load with --map; without it the error lists the headers found and suggests --map', async () => {
    const bad = await run(['import', dealer('autohaus.csv')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/autohaus\.csv: line 1: missing required columns vin, brand, model, year, price \(found: "Fahrgestellnummer", "Marke",.*\); name them with --map 'Header=vin'/);
    expect(bad.stderr).not.toMatch(/\n\s+at /); // no stack
    const r = await run(['import', dealer('autohaus.csv'), ...GERMAN_MAP, '--decimal', ',', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const s = summary(r);
    expect(s.rows).toMatchObject({ read: 4, inserted: 4 });
    expect(s.columns).toMatchObject({ Fahrgestellnummer: 'vin', Marke: 'brand', Preis: 'price' });
    const [bmw] = await db.sql`select model, price::text, mileage, color from cars where brand = 'BMW'`;
    expect(bmw).toMatchObject({ model: '320d Touring', price: '21990.00', mileage: 88000, color: 'Weiß' });
  });

  it('--map wins over an alias; two headers for one column is exit 2 naming both; a bad --map is a usage error', async () => {
    const both = await run(['import', dealer('excel-us.csv'), '--map', 'Options=model']);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/columns "Model" and "Options" both name model; keep one, or ignore the other with --map 'Options='/);
    const f = file('make-and-brand.csv', 'vin,Make,Brand,model,year,price\n1HGCM82633A004352,Honda,Acura,Accord,2019,15000\n');
    const dup = await run(['import', f]);
    expect(dup.code).toBe(2);
    expect(dup.stderr).toMatch(/columns "Make" and "Brand" both name brand/);
    const fixed = await run(['import', f, '--map', 'Make=', '--json']);
    expect(fixed.code, fixed.stderr).toBe(0);
    expect((await car('1HGCM82633A004352')).brand).toBe('Acura');
    const usage = await run(['import', f, '--map', 'Make=manufacturer']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/--map "Make=manufacturer": "manufacturer" is not a car column/);
  });

  it('inch marks in unquoted fields are kept; --strict-quotes rejects them', async () => {
    const r = await run(['import', dealer('inch-marks.csv'), '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(summary(r).rows).toMatchObject({ read: 3, inserted: 3, rejected: 0 });
    const models = (await db.sql`select model from cars where brand in ('Chevrolet', 'Volkswagen', 'Toyota') order by model`).map((x) => x.model);
    expect(models).toEqual(expect.arrayContaining([`Golf 6'2" Edition`, `Silverado 6'2" Lift`, 'Yaris 15" Steel']));
    const strict = await run(['import', dealer('inch-marks.csv'), '--strict-quotes', '--json', '--rejects', path.join(tmp, `${server.name}-strict.csv`)]);
    expect(summary(strict).rows).toMatchObject({ read: 3, rejected: 3 });
    expect(readCsv(path.join(tmp, `${server.name}-strict.csv`))[0].error).toMatch(/stray quote inside an unquoted field/);
  });

  it('an invalid UTF-8 byte after the first 64 KB rejects that record at its line, naming the encoding; nothing holds U+FFFD', async () => {
    const head = 'vin,brand,model,year,price\n' + asciiRows(2000, 100000); // ~100 KB of ASCII: read as UTF-8
    const bad = Buffer.concat([Buffer.from('1HGCM82633A999999,Citro'), Buffer.from([0xeb]), Buffer.from('n,C3,2020,15000\n')]);
    const f = file('late-byte.csv', Buffer.concat([Buffer.from(head), bad, Buffer.from(asciiRows(3, 200000))]));
    const rejects = path.join(tmp, `${server.name}-late.rejects.csv`);
    const r = await run(['import', f, '--json', '--rejects', rejects]);
    expect(r.code, r.stderr).toBe(0);
    const s = summary(r);
    expectBalanced(s.rows);
    expect(s.encoding).toBe('utf-8');
    expect(s.rows).toMatchObject({ read: 2004, rejected: 1 });
    const [rej] = readCsv(rejects);
    expect(Number(rej.line)).toBe(2002);
    expect(rej.error).toMatch(/not valid UTF-8 \(byte 0xEB\).*--encoding windows-1252/);
    expect(rej.brand).toBe('Citroën'); // kept as Windows-1252 reads it
    const [{ n }] = await db.sql`select count(*)::int as n from cars where brand like ${'%\ufffd%'}`;
    expect(n).toBe(0);
    // Read as what it is, the row loads.
    const again = await run(['import', f, '--encoding', 'windows-1252', '--json']);
    expect(summary(again).rows).toMatchObject({ read: 2004, inserted: 1, unchanged: 2003, rejected: 0 });
    expect((await car('1HGCM82633A999999')).brand).toBe('Citroën');
  });

  it('UTF-16 with a BOM (Excel\'s "Unicode text", tab-separated) is read, and NDJSON keys map like headers', async () => {
    const text = 'VIN\tMake\tModel\tYear\tPrice\r\n1HGCM82633A777001\tŠkoda\tSuperb\t2021\t33000\r\n';
    const r = await run(['import', file('unicode.txt', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')])), '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(summary(r).encoding).toBe('utf-16le');
    expect(summary(r).delimiter).toBe('\t');
    expect((await car('1HGCM82633A777001')).brand).toBe('Škoda');
    const nd = file('feed.ndjson', Buffer.from('{"VIN":"1HGCM82633A777002","Make":"Citro\xebn","Model":"C4","Year":2020,"Asking Price":"14999"}\n', 'latin1'));
    const n = await run(['import', nd, '--json']);
    expect(n.code, n.stderr).toBe(0);
    expect(summary(n)).toMatchObject({ encoding: 'windows-1252 (detected)', columns: { VIN: 'vin', Make: 'brand', 'Asking Price': 'price' } });
    expect(await car('1HGCM82633A777002')).toMatchObject({ brand: 'Citroën', price: '14999.00' });
  });

  it('--columns reads a file without a header row: its first line is data, and names go through the aliases', async () => {
    const f = file('no-header.csv', '1HGCM82633A777101;Honda;Jazz;2018;8999,90\n1HGCM82633A777102;Honda;HR-V;2021;21500\n');
    const r = await run(['import', f, '--columns', 'VIN,Make,model,year,price', '--decimal', ',', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(summary(r).rows).toMatchObject({ read: 2, inserted: 2 });
    expect(await car('1HGCM82633A777101')).toMatchObject({ brand: 'Honda', model: 'Jazz', price: '8999.90' });
    const missing = await run(['import', f, '--columns', 'vin,model']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/no-header\.csv: --columns: missing required columns brand, year, price/);
  });

  it('sync-prices reads a "VIN;Price" feed with decimal commas, in Windows-1252, with aliases', async () => {
    const [{ vin }] = await db.sql`select vin from cars where brand = 'BMW'`;
    const feed = file('prices.csv', Buffer.from(`sep=;\r\nVIN;Sale Price;Händler\r\n${vin};20999,50;Müller\r\n`, 'latin1'));
    const r = await cars(['sync-prices', '--feed', feed, '--decimal', ',', '--json'], { env: { DATABASE_URL: db.url, CARS_HOME: tmp } });
    expect(r.code, r.stderr).toBe(0);
    expect(summary(r)).toMatchObject({ encoding: 'windows-1252 (detected)', rows: { checked: 1, changed: 1 } });
    expect(r.stderr).toMatch(/ignoring column Händler/);
    expect((await car(vin)).price).toBe('20999.50');
  });
});
