import type { HeaderMaps } from '../sources/column-map.js';
import type { EncodingOption } from '../sources/encoding.js';
// The options each command receives from cli.ts (parsed and validated there).

export interface SyncOptions {
  feed?: string;
  api?: string;
  /** How a feed is read (as `cars import` reads a CSV or NDJSON). */
  encoding?: EncodingOption;
  delimiter?: string;
  map?: HeaderMaps;
  decimal?: '.' | ',';
  strictQuotes?: boolean;
  maxRecordBytes?: number;
  acceptUnterminated?: boolean;
  dryRun?: boolean;
  batchSize: number;
  workers: number;
  /** Percent, 0..100. */
  maxFailureRate: number;
  shard?: { index: number; count: number };
  condition?: 'available' | 'sold' | 'reserved';
  rejects?: string;
  failures?: string;
  concurrency: number;
  rate: number;
  retries: number;
  /** Statuses retried (--retry-on); undefined: the HTTP client's default set. */
  retryOn?: number[];
  timeout: number;
  /** How long a batch is retried after transient database errors, in ms. */
  dbRetryWait: number;
  /** Replace the files named by --rejects and --failures if they exist. */
  overwrite?: boolean;
  /** Default lists older than this many days are removed. */
  keepLists: number;
  /** `--refetch`: a feed URL is fetched whole, without asking whether it changed since the last complete run. */
  refetch?: boolean;
}

export interface ExplainOptions {
  check?: boolean;
  /** false with --no-analyze. */
  analyze: boolean;
  sql?: string;
  /** --sql where the reader role cannot be had: run EXPLAIN ANALYZE as the connecting user anyway. */
  analyzeAnyway?: boolean;
}

