// A run's timeline: its figures sampled while it works, kept to at most MAX_POINTS however long it
// runs (when full, every other point is dropped and the sampling interval doubles), plus the spans
// of its sequential phases. Pure: the caller samples, this keeps.

export const MAX_POINTS = 600;

/** One sample: seconds since the start, rows read, rows written, RSS in MB. */
export type Point = [t: number, read: number, written: number, rssMb: number];

export interface Span {
  name: string;
  /** Seconds since the start. */
  start: number;
  end: number;
}

export interface TimelineData {
  interval_ms: number;
  points: Point[];
  phases: Span[];
}

export class Timeline {
  intervalMs: number;
  private readonly points: Point[] = [];
  private readonly spans: Span[] = [];
  private last = -Infinity;

  constructor(intervalMs = 1000) {
    this.intervalMs = intervalMs;
  }

  /** Offers a sample taken at `t` seconds; kept when an interval has passed since the last one kept. */
  offer(p: Point, force = false): void {
    if (!force && (p[0] - this.last) * 1000 < this.intervalMs * 0.999) return;
    this.last = p[0];
    this.points.push(p);
    if (this.points.length > MAX_POINTS) {
      // Keep the first, then every other one: the shape stays, the count halves.
      let w = 1;
      for (let r = 2; r < this.points.length; r += 2) this.points[w++] = this.points[r];
      this.points.length = w;
      this.intervalMs *= 2;
    }
  }

  span(name: string, start: number, end: number): void {
    if (this.spans.length < 100) this.spans.push({ name, start, end });
  }

  data(): TimelineData {
    return { interval_ms: this.intervalMs, points: this.points.slice(), phases: this.spans.slice() };
  }
}

/** Rows per second between consecutive points (each at the later point's time). */
export function rates(points: Point[]): Array<[t: number, perSecond: number]> {
  const out: Array<[number, number]> = [];
  for (let i = 1; i < points.length; i++) {
    const dt = points[i][0] - points[i - 1][0];
    if (dt > 0) out.push([points[i][0], Math.max(0, (points[i][1] - points[i - 1][1]) / dt)]);
  }
  return out;
}

const BARS = '▁▂▃▄▅▆▇█';

/** A one-line picture of rows/s, `width` characters wide. */
export function sparkline(points: Point[], width = 40): string {
  const r = rates(points).map(([, v]) => v);
  if (r.length < 2) return '';
  const buckets: number[] = [];
  for (let b = 0; b < Math.min(width, r.length); b++) {
    const from = Math.floor((b * r.length) / Math.min(width, r.length));
    const to = Math.max(from + 1, Math.floor(((b + 1) * r.length) / Math.min(width, r.length)));
    let sum = 0;
    for (let i = from; i < to; i++) sum += r[i];
    buckets.push(sum / (to - from));
  }
  const max = Math.max(...buckets);
  if (max <= 0) return '';
  return buckets.map((v) => BARS[Math.min(BARS.length - 1, Math.floor((v / max) * (BARS.length - 1) + 0.5))]).join('');
}
