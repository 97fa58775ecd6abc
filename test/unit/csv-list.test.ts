import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultListPath } from '../../src/csv-list.js';

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
