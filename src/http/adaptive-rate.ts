// The rate a run actually uses, under the `--rate` ceiling: AIMD, as TCP and the AWS SDKs'
// "adaptive" retry mode do. A throttled answer (429, or a 503) cuts the rate by `decrease` (0.7,
// the SDKs' beta), but only when its request was sent after the last cut: the answers to requests
// sent before it say nothing about the new rate (TCP cuts once per window for the same reason).
// Every success adds `step / rate`, so a run that is not throttled climbs back by about `step`
// requests per second each second. Never above the ceiling, never below `floor`. Pure: the
// caller passes the times.

export interface AdaptiveRateOptions {
  /** The ceiling (`--rate`), and the rate the run starts at. */
  ceiling: number;
  /** Never below this. Default min(1, ceiling). */
  floor?: number;
  /** Multiplicative decrease on throttling. Default 0.7. */
  decrease?: number;
  /** Additive increase, in requests per second gained per second of successes. Default max(1, ceiling / 10): back from half the ceiling within about 5 s. */
  step?: number;
}

export interface RateFigures {
  start: number;
  lowest: number;
  end: number;
}

export class AdaptiveRate {
  readonly ceiling: number;
  private readonly floor: number;
  private readonly decrease: number;
  private readonly step: number;
  private current: number;
  private lowest: number;
  private lastCut = -Infinity;
  /** Throttled answers seen (each one, cut or not). */
  throttled = 0;

  constructor(opts: AdaptiveRateOptions) {
    const { ceiling } = opts;
    if (!Number.isFinite(ceiling) || ceiling <= 0) throw new RangeError(`Expected \`ceiling\` to be a number above 0, got ${ceiling}`);
    this.ceiling = ceiling;
    this.floor = Math.min(opts.floor ?? 1, ceiling);
    this.decrease = opts.decrease ?? 0.7;
    if (!(this.decrease > 0 && this.decrease < 1)) throw new RangeError(`Expected \`decrease\` to be a number between 0 and 1, got ${this.decrease}`);
    this.step = opts.step ?? Math.max(1, ceiling / 10);
    this.current = ceiling;
    this.lowest = ceiling;
  }

  get rate(): number {
    return this.current;
  }

  /** A 429 or 503 came back at `now` (ms) to a request sent at `sentAt`. Returns the rate to use from now on. */
  onThrottled(sentAt: number, now: number): number {
    this.throttled++;
    if (sentAt < this.lastCut) return this.current;
    this.lastCut = now;
    this.current = Math.max(this.floor, this.current * this.decrease);
    this.lowest = Math.min(this.lowest, this.current);
    return this.current;
  }

  /** A request succeeded. Returns the rate to use from now on. */
  onSuccess(): number {
    this.current = Math.min(this.ceiling, this.current + this.step / this.current);
    return this.current;
  }

  /** A --rate the server accepted without throttling, as far as this run can tell: the lowest rate, rounded down. */
  suggestedRate(): number {
    return Math.max(1, Math.floor(this.lowest));
  }

  figures(): RateFigures {
    const r = (n: number) => Math.round(n * 10) / 10;
    return { start: r(this.ceiling), lowest: r(this.lowest), end: r(this.current) };
  }
}
