// Progress on stderr: a bar on a terminal, a plain line every few seconds otherwise.
// cli-progress is loaded only for a terminal (it costs ~7 MB of RSS to load).

export interface Progress {
  update(rows: number, bytes: number): void;
  /** Names what the run does after the input is read (writing the last batches, ANALYZE), so a full bar is not a stall. */
  step(what: string): void;
  stop(): void;
}

export const noProgress: Progress = { update() {}, step() {}, stop() {} };

export interface ProgressOptions {
  enabled: boolean;
  tty: boolean;
  totalBytes: number | undefined;
  stream: NodeJS.WritableStream;
  label: string;
  /** How often a plain line is printed when stderr is not a terminal. */
  everyMs?: number;
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

export async function createProgress(opts: ProgressOptions): Promise<Progress> {
  if (!opts.enabled) return noProgress;
  const started = performance.now();
  const total = opts.totalBytes && opts.totalBytes > 0 ? opts.totalBytes : 0;
  const rate = (rows: number) => {
    const secs = (performance.now() - started) / 1000;
    return secs > 0 ? rows / secs : 0;
  };
  if (!opts.tty) {
    const every = opts.everyMs ?? 5000;
    let last = started;
    const line = (rows: number, bytes: number) => {
      const pct = total ? ` (${Math.min(100, (100 * bytes) / total).toFixed(0)}% of ${(total / 1048576).toFixed(1)} MB)` : ` (${(bytes / 1048576).toFixed(1)} MB read)`;
      opts.stream.write(`${opts.label}: ${fmt(rows)} rows${pct}, ${fmt(rate(rows))} rows/s\n`);
    };
    return {
      update(rows, bytes) {
        const now = performance.now();
        if (now - last >= every) {
          last = now;
          line(rows, bytes);
        }
      },
      step() {},
      stop() {},
    };
  }
  const { default: cliProgress } = await import('cli-progress');
  const format = total
    ? `${opts.label} {bar} {percentage}% | {rows} rows | {rate} rows/s | ETA {eta_formatted}{step}`
    : `${opts.label} {rows} rows | {rate} rows/s | {mb} MB read{step}`;
  const bar = new cliProgress.SingleBar(
    { format, stream: opts.stream as NodeJS.WriteStream, fps: 5, etaBuffer: 50, hideCursor: true, clearOnComplete: false },
    cliProgress.Presets.shades_classic,
  );
  let step = '';
  bar.start(total || 1, 0, { rows: '0', rate: '0', mb: '0.0', step: '' });
  return {
    update(rows, bytes) {
      bar.update(total ? Math.min(bytes, total) : 0, { rows: fmt(rows), rate: fmt(rate(rows)), mb: (bytes / 1048576).toFixed(1), step });
    },
    step(what) {
      step = ` | ${what}`;
      bar.update({ step });
    },
    stop() {
      bar.stop();
    },
  };
}

