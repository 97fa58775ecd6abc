// Which format a feed is in when --format does not say: the Content-Type first, then the
// extension of the URL's path (or the file's name). Pure.

export type FeedFormat = 'csv' | 'ndjson' | 'json';

export interface Detected {
  format: FeedFormat;
  /** Tab for TSV; otherwise the CSV default applies. */
  delimiter?: string;
}

const BY_TYPE: Record<string, Detected> = {
  'text/csv': { format: 'csv' },
  'application/csv': { format: 'csv' },
  'text/x-csv': { format: 'csv' },
  'application/x-csv': { format: 'csv' },
  'text/comma-separated-values': { format: 'csv' },
  'text/tab-separated-values': { format: 'csv', delimiter: '\t' },
  'text/tsv': { format: 'csv', delimiter: '\t' },
  'application/x-ndjson': { format: 'ndjson' },
  'application/ndjson': { format: 'ndjson' },
  'text/x-ndjson': { format: 'ndjson' },
  'application/jsonl': { format: 'ndjson' },
  'application/x-jsonl': { format: 'ndjson' },
  'application/jsonlines': { format: 'ndjson' },
  'application/x-jsonlines': { format: 'ndjson' },
  'application/json': { format: 'json' },
  'text/json': { format: 'json' },
};

/** The format a Content-Type names, or undefined for generic types (text/plain, octet-stream, gzip). */
export function formatFromContentType(contentType: string | undefined): Detected | undefined {
  if (!contentType) return undefined;
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  const known = BY_TYPE[type];
  if (known) return known;
  if (/^application\/[\w.+-]+\+json$/.test(type)) return { format: 'json' };
  return undefined;
}

const BY_EXTENSION: Record<string, Detected> = {
  csv: { format: 'csv' },
  tsv: { format: 'csv', delimiter: '\t' },
  ndjson: { format: 'ndjson' },
  jsonl: { format: 'ndjson' },
  json: { format: 'json' },
};

/** The format a path's extension names (`.csv .tsv .ndjson .jsonl .json`, each optionally `.gz`). */
export function formatFromPath(pathname: string): Detected | undefined {
  const m = /\.([a-z]+)(?:\.gz)?$/i.exec(pathname);
  return m ? BY_EXTENSION[m[1]!.toLowerCase()] : undefined;
}

/** Content-Type first, then the extension. */
export function detectFormat(contentType: string | undefined, pathname: string): Detected | undefined {
  return formatFromContentType(contentType) ?? formatFromPath(pathname);
}
