// The lists a sync leaves for the operator, as CSV files created on their first row:
//   failures: vin,url,error        cars whose price could not be fetched (they keep their price)
//   unknown:  vin,price,line       feed VINs the table does not have (feed mode)
//             vin,url              cars the price service answered 404 for (API mode)
// (Written by CsvList, src/csv-list.ts, as the import's rejects file is.)
import path from 'node:path';

/** `$CARS_HOME/<dir>/<run>-<source>.<kind>.csv`; the source is named by its file name or host. */
export function defaultListPath(home: string, dir: string, runLabel: string, source: string, kind: string): string {
  let base: string;
  if (source === '-') base = 'stdin';
  else if (/^https?:\/\//i.test(source)) {
    try {
      const u = new URL(source);
      const last = u.pathname.split('/').filter(Boolean).pop();
      base = last && /\.\w+$/.test(last) ? last : u.host;
    } catch {
      base = 'remote';
    }
  } else base = path.basename(source);
  base = base.replace(/\.(csv|tsv|txt|ndjson|jsonl|json)(\.gz)?$/i, '').replace(/[^\w.-]+/g, '_') || 'input';
  return path.join(home, dir, `${runLabel}-${base}.${kind}.csv`);
}
