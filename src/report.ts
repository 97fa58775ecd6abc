// The run report: what a command did, how long each phase took and what it cost in memory.
// Peak RSS is sampled on a timer (and at every phase boundary), never guessed from the end value.

import { VERSION } from './version.js';
import { Timeline, type TimelineData } from './timeline.js';

/** The timeline rides along with a summary under this key: JSON.stringify leaves symbol keys out. */
export const TIMELINE = Symbol('timeline');

export type Status = 'ok' | 'threshold' | 'failed' | 'interrupted';

export interface PhaseFigure {
  ms: number;
  rss_delta_mb: number;
}

export interface HttpFigures {
  requests: number;
  retries: number;
  statuses: Record<string, number>;
  bytes: number;
  rate_wait_ms: number;
  backoff_wait_ms: number;
  /** Answers that asked for fewer requests (429, 503): each one lowers the adaptive rate. */
  throttled: number;
  /** The adaptive rate in requests/s: `--rate` at the start, the lowest it went, and at the end. */
  rate: { start: number; lowest: number; end: number };
}

export interface Summary {
  command: string;
  /** The version of cars that made the run. */
  version: string;
  /** Not printed in the JSON summary; stored with the run. */
  [TIMELINE]?: TimelineData;
  status: Status;
  exit_code: number;
  run_id: number | null;
  source: string | null;
  rows: Record<string, number>;
  rejects_file?: string | null;
  failures_file?: string | null;
  http?: HttpFigures;
  timing: { total_ms: number; phases: Record<string, PhaseFigure> };
  memory: { rss_start_mb: number; rss_peak_mb: number; rss_end_mb: number };
  error?: { code: string; message: string };
  [extra: string]: unknown;
}

const MB = 1024 * 1024;
const round1 = (n: number) => Math.round(n * 10) / 10;

export interface Clock {
  now(): number;
  rss(): number;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  rss: () => process.memoryUsage.rss(),
};

export class RunReport {
  readonly command: string;
  source: string | null = null;
  runId: number | null = null;
  rows: Record<string, number> = {};
  http: HttpFigures | undefined;
  extra: Record<string, unknown> = {};
  private readonly clock: Clock;
  private readonly started: number;
  private readonly rssStart: number;
  private rssPeak: number;
  private readonly phases = new Map<string, PhaseFigure>();
  private sampler: NodeJS.Timeout | undefined;
  private ticker: NodeJS.Timeout | undefined;
  readonly timeline = new Timeline();

  constructor(command: string, clock: Clock = systemClock, sampleMs = 25) {
    this.command = command;
    this.clock = clock;
    this.started = clock.now();
    this.rssStart = clock.rss();
    this.rssPeak = this.rssStart;
    if (sampleMs > 0) {
      this.sampler = setInterval(() => this.sample(), sampleMs);
      this.sampler.unref();
      this.ticker = setInterval(() => this.tick(), 250);
      this.ticker.unref();
    }
  }

  /** Seconds since the start. */
  private seconds(at = this.clock.now()): number {
    return Math.round(at - this.started) / 1000;
  }

  /** Offers the timeline a sample of the rows so far and the RSS. */
  tick(force = false): void {
    const r = this.rows;
    const read = r.read ?? r.checked ?? 0;
    const written = (r.inserted ?? 0) + (r.updated ?? 0) + (r.unchanged ?? 0) + (r.superseded ?? 0) + (r.changed ?? 0);
    this.timeline.offer([this.seconds(), read, written, round1(this.clock.rss() / MB)], force);
  }

  /** Marks a span of the timeline that began at `startMs` (performance.now()) and ends now. */
  span(name: string, startMs: number): void {
    this.timeline.span(name, this.seconds(startMs), this.seconds());
  }

  sample(): number {
    const rss = this.clock.rss();
    if (rss > this.rssPeak) this.rssPeak = rss;
    return rss;
  }

  /** Runs one sequential phase and records its wall time and RSS delta. */
  async phase<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const t0 = this.clock.now();
    const r0 = this.sample();
    try {
      return await fn();
    } finally {
      this.add(name, this.clock.now() - t0, this.sample() - r0);
      this.span(name, t0);
    }
  }

  /** Adds time to a phase; phases that overlap (parse while writing) accumulate their busy time. */
  add(name: string, ms: number, rssDeltaBytes = 0): void {
    const p = this.phases.get(name) ?? { ms: 0, rss_delta_mb: 0 };
    p.ms += ms;
    p.rss_delta_mb += rssDeltaBytes / MB;
    this.phases.set(name, p);
  }

  count(name: string, n = 1): void {
    this.rows[name] = (this.rows[name] ?? 0) + n;
  }

  elapsedMs(): number {
    return this.clock.now() - this.started;
  }

  finish(status: Status, exitCode: number, error?: { code: string; message: string }): Summary {
    const end = this.sample();
    this.tick(true);
    if (this.sampler) clearInterval(this.sampler);
    if (this.ticker) clearInterval(this.ticker);
    this.sampler = undefined;
    this.ticker = undefined;
    const phases: Record<string, PhaseFigure> = {};
    for (const [name, p] of this.phases) phases[name] = { ms: Math.round(p.ms), rss_delta_mb: round1(p.rss_delta_mb) };
    return {
      command: this.command,
      version: VERSION,
      status,
      exit_code: exitCode,
      run_id: this.runId,
      source: this.source,
      rows: { ...this.rows },
      ...this.extra,
      ...(this.http ? { http: this.http } : {}),
      timing: { total_ms: Math.round(this.elapsedMs()), phases },
      memory: { rss_start_mb: round1(this.rssStart / MB), rss_peak_mb: round1(this.rssPeak / MB), rss_end_mb: round1(end / MB) },
      ...(error ? { error } : {}),
      [TIMELINE]: this.timeline.data(),
    };
  }
}
