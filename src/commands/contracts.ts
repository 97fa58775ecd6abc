// The options each command receives from cli.ts (parsed and validated there).

export interface SyncOptions {
  feed?: string;
  api?: string;
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
}

export interface ExplainOptions {
  check?: boolean;
  /** false with --no-analyze. */
  analyze: boolean;
  sql?: string;
}

export interface SearchOptions {
  brand?: string;
  model?: string;
  condition?: 'available' | 'sold' | 'reserved';
  minPrice?: number;
  maxPrice?: number;
  yearFrom?: number;
  yearTo?: number;
  limit: number;
  after?: string;
  format: 'table' | 'json' | 'csv';
}
