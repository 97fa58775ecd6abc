// No control byte from the input reaches the terminal: through the real binary, a header and a
// stored value holding escape sequences come out escaped in the import warning, the report, the
// search table and the explain report; binary input is refused as "not a CSV/text file". The
// escaping does not depend on the server, so this runs on the embedded 18 only.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cars, tempDir, type Result } from '../support/cli.js';
import { freshDatabase, servers } from '../support/db.js';

/** Control characters other than LF (which the output means) in what bin/cars printed. */
const RAW = /[\x00-\x09\x0b-\x1f\x7f-\x9f]/;

function clean(r: Result) {
  expect(RAW.exec(r.stdout), `stdout: ${JSON.stringify(r.stdout)}`).toBeNull();
  expect(RAW.exec(r.stderr), `stderr: ${JSON.stringify(r.stderr)}`).toBeNull();
}

const TITLE = '\x1b]0;owned\x07\x1b[2Jnote'; // sets the window title, clears the screen
const MODEL = '\x1b[31mRed\x1b[0m Legend';
const LONG = 'h'.repeat(5000);

describe('control bytes in the output', () => {
  let db: { url: string; drop: () => Promise<void> };
  const dir = tempDir();
  const env = () => ({ DATABASE_URL: db.url });
  beforeAll(async () => {
    db = await freshDatabase(servers()[0]);
  });
  afterAll(async () => {
    await db?.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a header and a model holding ESC sequences: the import warning and report show them escaped', async () => {
    const file = path.join(dir, 'escapes.csv');
    fs.writeFileSync(file, `vin,brand,model,year,price,${TITLE},${LONG}\nJH4KA7561PC008269,Honda,${MODEL},1993,4500.00,x,y\n`);
    const r = await cars(['import', file, '--no-progress'], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    clean(r);
    expect(r.stderr).toContain('warning: ');
    expect(r.stderr).toContain('ignoring columns \\x1b]0;owned\\x07\\x1b[2Jnote, hhh');
    // The report cuts a value at 200 characters; a warning line is cut too, never 5,000 long.
    expect(r.stderr).toContain(`  ignored columns: \\x1b]0;owned\\x07\\x1b[2Jnote, ${'h'.repeat(199)}…\n`);
    for (const line of r.stderr.split('\n')) expect([...line].length).toBeLessThanOrEqual(2000);
  });

  it('cars search: the table shows the stored ESC escaped; JSON keeps the value whole', async () => {
    const table = await cars(['search', '--quiet'], { env: env() });
    expect(table.code, table.stderr).toBe(0);
    clean(table);
    expect(table.stdout).toContain('\\x1b[31mRed\\x1b[0m Legend');
    const json = await cars(['search', '--format', 'json', '--quiet'], { env: env() });
    expect(JSON.parse(json.stdout).items[0].model).toBe(MODEL);
  });

  it('cars explain --sql: a constant holding ESC is shown escaped in the plan and the report', async () => {
    const r = await cars(['explain', '--sql', "select * from cars where model = E'\\x1b[2Jx' or brand = E'\\x07'"], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    clean(r);
    expect(r.stdout).toMatch(/filter: .*'\\x1b\[2Jx'.*'\\x07'/);
  });

  it('binary input is refused as not a CSV/text file (exit 2), without its bytes in the message', async () => {
    const file = path.join(dir, 'stock.xlsx.csv');
    fs.writeFileSync(file, Buffer.concat([Buffer.from('PK\x03\x04\x14\x00\x06\x00\x08\x00\x1b[2J', 'latin1'), Buffer.alloc(64)]));
    const r = await cars(['import', file], { env: env() });
    expect(r.code).toBe(2);
    clean(r);
    expect(r.stderr).toMatch(/cars: error: .*stock\.xlsx\.csv is not a CSV\/text file: byte 6 is NUL \(0x00\)/);
  });

  it('UTF-16 input with its byte order mark still reads (its NUL bytes are text)', async () => {
    const file = path.join(dir, 'utf16.csv');
    const text = 'vin,brand,model,year,price\nJH4KA7561PC008270,Honda,Legend,1993,4600.00\n';
    fs.writeFileSync(file, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]));
    const r = await cars(['import', file, '--json'], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).rows).toMatchObject({ read: 1, inserted: 1 });
  });
});
