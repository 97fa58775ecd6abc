// List files (rejects, failures, unknown VINs) are never shared or overwritten, only their owner
// reads them, and old default lists go (real binary, real PostgreSQL 18).
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cars, tempHome } from '../support/cli.js';
import { freshDatabase, servers } from '../support/db.js';
import { readCsv, summary } from '../support/import-helpers.js';

const home = tempHome('cars-lists-');
const dbs: Array<{ url: string; drop: () => Promise<void> }> = [];
beforeAll(async () => {
  dbs.push(await freshDatabase(servers()[0]), await freshDatabase(servers()[0]));
});
afterAll(async () => {
  for (const d of dbs) await d.drop();
  fs.rmSync(home, { recursive: true, force: true });
});

const HEADER = 'vin,brand,model,year,price';
function input(name: string, bad: string[]): string {
  const f = path.join(home, name);
  fs.writeFileSync(f, [HEADER, 'WVWZZZ1KZAW000001,Volkswagen,Golf,2019,100', ...bad].join('\n') + '\n');
  return f;
}

describe('list files', () => {
  it('two databases on one CARS_HOME keep separate rejects files, created 0600 in a 0700 folder', async () => {
    // The same file name, and both databases' first run: run ids alone would collide.
    const a = input('dealer.csv', ['BAD-A,Volkswagen,Golf,2019,1']);
    const [ra, rb] = await Promise.all(dbs.map((d) => cars(['import', a, '--json'], { env: { DATABASE_URL: d.url, CARS_HOME: home } })));
    const sa = summary(ra);
    const sb = summary(rb);
    expect([sa.run_id, sb.run_id]).toEqual([1, 1]);
    expect(sa.rejects_file).not.toBe(sb.rejects_file);
    for (const s of [sa, sb]) {
      expect(path.dirname(s.rejects_file)).toBe(path.join(home, 'rejects'));
      expect(path.basename(s.rejects_file)).toMatch(/^cars_t_\w+-[0-9a-f]{8}-run1-dealer\.rejects\.csv$/);
      expect(readCsv(s.rejects_file).map((r) => r.vin)).toEqual(['BAD-A']);
      expect(fs.statSync(s.rejects_file).mode & 0o777).toBe(0o600);
    }
    expect(fs.statSync(path.join(home, 'rejects')).mode & 0o777).toBe(0o700);
  });

  it('an existing file named by --rejects is refused before any work, replaced with --overwrite', async () => {
    const env = { DATABASE_URL: dbs[0].url, CARS_HOME: home };
    const target = path.join(home, 'mine.rejects.csv');
    fs.writeFileSync(target, 'precious\n');
    const f = input('again.csv', ['BAD-B,Volkswagen,Golf,2019,1']);
    const refused = await cars(['import', f, '--json', '--rejects', target], { env });
    expect(refused.code).toBe(2);
    expect(summary(refused).error).toMatchObject({ code: 'OUTPUT_EXISTS', message: expect.stringContaining('--overwrite') });
    expect(fs.readFileSync(target, 'utf8')).toBe('precious\n');
    const replaced = await cars(['import', f, '--json', '--rejects', target, '--overwrite'], { env });
    expect(replaced.code, replaced.stderr).toBe(0);
    expect(readCsv(target).map((r) => r.vin)).toEqual(['BAD-B']);
  });

  it('default lists older than --keep-lists days are removed; others stay', async () => {
    const env = { DATABASE_URL: dbs[1].url, CARS_HOME: home };
    const old = path.join(home, 'failures', 'x-run9-old.failures.csv');
    const recent = path.join(home, 'failures', 'x-run9-recent.failures.csv');
    fs.mkdirSync(path.dirname(old), { recursive: true });
    for (const [f, days] of [[old, 8], [recent, 2]] as const) {
      fs.writeFileSync(f, 'vin,url,error\n');
      const t = Date.now() / 1000 - days * 86_400;
      fs.utimesSync(f, t, t);
    }
    const r = await cars(['import', input('keep.csv', []), '--json', '--keep-lists', '7'], { env });
    expect(r.code, r.stderr).toBe(0);
    expect([fs.existsSync(old), fs.existsSync(recent)]).toEqual([false, true]);
  });
});
