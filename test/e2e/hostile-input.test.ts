// Inputs nobody planned for, through the real binary: a line of 32 MB, gzip that unpacks a
// thousandfold, a pipe cut mid-record, old-Mac line endings, an interrupt while the input yields
// no records. (They test the readers, not the server: one server is enough, the embedded 18.)
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cars, tempDir } from '../support/cli.js';
import { servers, useFreshDatabase } from '../support/db.js';
import { expectBalanced, readCsv, summary } from '../support/import-helpers.js';

const tmp = tempDir('cars-hostile-');
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const HEADER = 'vin,brand,model,year,price\n';
const row = (n: number) => `1HGCM82633A${String(n).padStart(6, '0')},Honda,Civic,2019,${15000 + n}\n`;

/** `members` gzip members of `size` bytes of `byte` each, concatenated (gunzip reads them as one stream). */
function gzipBomb(file: string, byte: string, size: number, members: number, head = '') {
  const member = zlib.gzipSync(Buffer.alloc(size, byte), { level: 9 });
  const fd = fs.openSync(file, 'w');
  if (head) fs.writeSync(fd, zlib.gzipSync(head));
  for (let i = 0; i < members; i++) fs.writeSync(fd, member);
  fs.closeSync(fd);
}

describe('hostile input', () => {
  const [server] = servers();
  const db = useFreshDatabase(server);
  const run = (args: string[], input?: string | Buffer, onSpawn?: Parameters<typeof cars>[1]['onSpawn']) =>
    cars(args, { env: { DATABASE_URL: db.url, CARS_HOME: tmp }, input, onSpawn });

  it('a 32 MB line is rejected in seconds, under 100 MB, with its first 4 KB kept; the next row loads', async () => {
    const f = path.join(tmp, 'long-line.csv');
    const fd = fs.openSync(f, 'w');
    fs.writeSync(fd, HEADER);
    const mb = Buffer.alloc(1 << 20, 'z');
    for (let i = 0; i < 32; i++) fs.writeSync(fd, mb);
    fs.writeSync(fd, '\n' + row(1));
    fs.closeSync(fd);
    const rejects = path.join(tmp, 'long-line.rejects.csv');
    const t0 = performance.now();
    const r = await run(['import', f, '--json', '--rejects', rejects]);
    const secs = (performance.now() - t0) / 1000;
    expect(r.code, r.stderr).toBe(0);
    const s = summary(r);
    expectBalanced(s.rows);
    expect(s.rows).toMatchObject({ read: 2, inserted: 1, rejected: 1 });
    expect(s.memory.rss_peak_mb).toBeLessThan(100);
    expect(secs).toBeLessThan(30); // quadratic, this took minutes; it takes about a second
    const [rej] = readCsv(rejects);
    expect(Number(rej.line)).toBe(2);
    expect(rej.error).toMatch(/longer than 1048576 bytes/);
    expect(rej.raw.length).toBe(4096);
    expect(fs.statSync(rejects).size).toBeLessThan(10_000);
    expect(r.stdout.length + r.stderr.length).toBeLessThan(10_000);
  }, 60_000);

  it('gzip that unpacks more than --max-expand times its size is stopped with a clear error (exit 2)', async () => {
    const f = path.join(tmp, 'bomb.csv.gz');
    gzipBomb(f, '\n', 16 << 20, 16, HEADER); // 256 MB of blank lines from ~250 KB
    const r = await run(['import', f]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/bomb\.csv\.gz: the gzip data unpacks to more than 1000 times its size/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  }, 60_000);

  it('SIGTERM is honoured within a second while the input yields no records (a gzip of blank lines)', async () => {
    const f = path.join(tmp, 'blank.csv.gz');
    gzipBomb(f, '\n', 16 << 20, 64, HEADER); // 1 GB of blank lines
    let sentAt = 0;
    const r = await run(['import', f, '--max-expand', '1000000', '--json'], undefined, (child) => {
      setTimeout(() => {
        sentAt = performance.now();
        child.kill('SIGTERM');
      }, 1500);
    });
    const after = performance.now() - sentAt;
    expect(r.code, r.stderr).toBe(130);
    expect(after).toBeLessThan(1500);
    expect(summary(r).status).toBe('interrupted');
  }, 60_000);

  it('a pipe cut mid-record: the last record is refused as possibly cut, not stored with a wrong price; --accept-unterminated takes it', async () => {
    const text = HEADER + row(10) + row(11);
    const cut = text.slice(0, -4); // "...,15011\n" loses "011\n": the price would read 15
    const rejects = path.join(tmp, 'cut.rejects.csv');
    const r = await run(['import', '-', '--json', '--rejects', rejects], cut);
    expect(r.code, r.stderr).toBe(0);
    expect(summary(r).rows).toMatchObject({ read: 2, inserted: 1, rejected: 1 });
    const [rej] = readCsv(rejects);
    expect(rej.error).toMatch(/possibly cut: stdin ended in the middle of this line.*--accept-unterminated/);
    expect(rej.price).toBe('15');
    expect(await db.sql`select 1 from cars where vin = '1HGCM82633A000011'`).toHaveLength(0);
    const ok = await run(['import', '-', '--json', '--accept-unterminated'], cut);
    expect(summary(ok).rows).toMatchObject({ read: 2, inserted: 1, unchanged: 1 });
    // A regular file without a final newline is complete: nothing to refuse.
    const f = path.join(tmp, 'no-final-newline.csv');
    fs.writeFileSync(f, HEADER + row(12).trimEnd());
    expect(summary(await run(['import', f, '--json'])).rows).toMatchObject({ read: 1, inserted: 1, rejected: 0 });
  });

  it('old-Mac CR-only line endings are lines', async () => {
    const f = path.join(tmp, 'mac.csv');
    fs.writeFileSync(f, (HEADER + row(20) + row(21) + row(22)).replace(/\n/g, '\r'));
    const r = await run(['import', f, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(summary(r).rows).toMatchObject({ read: 3, inserted: 3, rejected: 0 });
  });
});
