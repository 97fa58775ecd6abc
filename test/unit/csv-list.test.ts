import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultListPath, listLabel, pruneLists } from '../../src/csv-list.js';
import { socketUrl } from '../../src/db/embedded.js';

describe('list file names (rejects, failures, unknown VINs)', () => {
  it.each([
    ['/data/today.csv.gz', 'run7-today.failures.csv'],
    ['-', 'run7-stdin.failures.csv'],
    ['https://prices.example.com/feeds/today.ndjson?x=1', 'run7-today.failures.csv'],
    ['https://prices.example.com:8443', 'run7-prices.example.com_8443.failures.csv'],
    ['http://127.0.0.1:3000/api/', 'run7-127.0.0.1_3000.failures.csv'],
    ['fixtures/feeds/page-1.json', 'run7-page-1.failures.csv'],
    ['dealer export (2).tsv', 'run7-dealer_export_2_.failures.csv'],
  ])('%s -> %s', (source, file) => {
    expect(defaultListPath('/home/cars', 'failures', 'run7', source, 'failures')).toBe(path.join('/home/cars', 'failures', file));
  });
});

describe('listLabel', () => {
  const at = new Date('2026-12-05T08:30:01.250Z');
  /** A target given by its URL (printed redacted: here the same, as it holds no password). */
  const url = (u: string) => ({ url: u, display: u });
  it('names the database and the run; two databases never share a label', () => {
    const a = listLabel(1, url('postgres://cars@db1:5432/cars'), at, 42);
    const b = listLabel(1, url('postgres://cars@db2:5432/cars'), at, 42);
    expect(a).toMatch(/^cars-[0-9a-f]{8}-run1$/);
    expect(b).toMatch(/^cars-[0-9a-f]{8}-run1$/);
    expect(a).not.toBe(b);
    expect(listLabel(1, url('postgres://cars@db1:5432/cars'), at, 7)).toBe(a); // the same database and run: the same name
    expect(listLabel(2, url('postgres://x@h:1/my%20db'), at)).toMatch(/^my_db-[0-9a-f]{8}-run2$/);
    // The embedded server's target: printed as its socket URL (no host), then a note.
    expect(listLabel(4, { url: 'postgres://postgres@localhost:5432/cars', display: `${socketUrl('/root/.cars/pg')} (embedded)` }, at)).toMatch(/^cars-[0-9a-f]{8}-run4$/);
    expect(listLabel(5, url('postgres://x@h:1/bad%zz'), at)).toMatch(/^db-[0-9a-f]{8}-run5$/);
    expect(listLabel(6, url('not a url'), at)).toMatch(/^db-[0-9a-f]{8}-run6$/);
  });
  it('without a run (dry run): the time and the process', () => {
    expect(listLabel(null, url('postgres://cars@db1:5432/cars'), at, 42)).toBe('dry-20261205T083001-42');
    expect(listLabel(3, null, at, 42)).toBe('dry-20261205T083001-42');
  });
});

describe('pruneLists', () => {
  it('removes default lists older than the given days, and nothing else', () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'cars-prune-'));
    try {
      const now = Date.now();
      const file = (dir: string, name: string, ageDays: number) => {
        fs.mkdirSync(path.join(home, dir), { recursive: true });
        const f = path.join(home, dir, name);
        fs.writeFileSync(f, 'x\n');
        const t = (now - ageDays * 86_400_000) / 1000;
        fs.utimesSync(f, t, t);
        return f;
      };
      const old = [file('rejects', 'a.rejects.csv', 31), file('failures', 'b.failures.csv', 40), file('unknown', 'c.unknown.csv', 400)];
      const kept = [file('rejects', 'new.rejects.csv', 29), file('rejects', 'notes.txt', 400), file('other', 'x.csv', 400)];
      expect(pruneLists(home, 30, now)).toBe(3);
      expect(old.filter((f) => fs.existsSync(f))).toEqual([]);
      expect(kept.filter((f) => fs.existsSync(f))).toEqual(kept);
      expect(pruneLists(path.join(home, 'nowhere'), 30, now)).toBe(0);
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });
});
