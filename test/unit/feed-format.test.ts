// sources/feed-format.ts: which format a feed is, from its path, its Content-Type or its first bytes.
import { describe, expect, it } from 'vitest';
import { detectFormat, formatFromContentType, formatFromPath } from '../../src/sources/feed-format.js';

describe('feed format', () => {
  it.each([
    ['text/csv; charset=utf-8', '/x', { format: 'csv' }],
    ['text/tab-separated-values', '/x', { format: 'csv', delimiter: '\t' }],
    ['application/x-ndjson', '/x.csv', { format: 'ndjson' }],
    ['application/jsonl', '/x', { format: 'ndjson' }],
    ['application/ndjson', '/x', { format: 'ndjson' }],
    ['Application/JSON', '/feed.csv', { format: 'json' }],
    ['application/vnd.api+json', '/x', { format: 'json' }],
    ['text/plain', '/feed.csv.gz', { format: 'csv' }],
    ['application/octet-stream', '/feed.TSV', { format: 'csv', delimiter: '\t' }],
    [undefined, '/feed.jsonl', { format: 'ndjson' }],
    [undefined, '/feed.ndjson.gz', { format: 'ndjson' }],
    [undefined, '/api/page.json', { format: 'json' }],
    ['text/plain', '/feed', undefined],
    [undefined, '/feed.xml', undefined],
  ])('Content-Type %s, path %s', (ct, p, expected) => {
    expect(detectFormat(ct, p)).toEqual(expected);
  });

  it('generic types defer to the extension', () => {
    expect(formatFromContentType('application/gzip')).toBeUndefined();
    expect(formatFromPath('/a/b.c/feed')).toBeUndefined();
  });
});
