// What the library layers may say to the operator. Only src/cli.ts decides where it goes.
export interface Logger {
  /** A line for the human on stderr; dropped with --quiet. */
  info(message: string): void;
  /** A warning: printed even with --quiet. */
  warn(message: string): void;
  /** A line printed at most once per process for this key. */
  once(key: string, message: string): void;
  /** True when info lines are dropped (--quiet). */
  readonly quiet: boolean;
}

export interface LogOptions {
  /** `json`: one object a line ({"level", "code", "message", "run_id"}), for journald and log shippers. */
  format?: 'text' | 'json';
  /** The run's id, once it has one. */
  runId?: () => number | null;
}

/** "warning: x" -> ["warning", "x"]; "note: x" -> ["info", "x"]; a line without a prefix keeps `level`. */
export function levelOf(message: string, level: string): [string, string] {
  const m = /^(warning|note|error|cars: error|cars: warning): /.exec(message);
  if (!m) return [level, message];
  const word = m[1].replace('cars: ', '');
  return [word === 'note' ? 'info' : word, message.slice(m[0].length)];
}

/** One JSON log line. */
export function jsonLine(level: string, message: string, code: string | null, runId: number | null): string {
  return JSON.stringify({ time: new Date().toISOString(), level, code, message, run_id: runId });
}

export function createLogger(write: (line: string) => void, quiet: boolean, opts: LogOptions = {}): Logger {
  const seen = new Set<string>();
  const out =
    opts.format === 'json'
      ? (m: string, level: string) => {
          const [l, text] = levelOf(m, level);
          write(jsonLine(l, text, null, opts.runId?.() ?? null));
        }
      : (m: string) => write(m);
  return {
    quiet,
    info: (m) => {
      if (!quiet) out(m, 'info');
    },
    warn: (m) => out(m, 'warning'),
    once: (key, m) => {
      if (seen.has(key)) return;
      seen.add(key);
      out(m, 'warning');
    },
  };
}

export const silentLogger: Logger = { info() {}, warn() {}, once() {}, quiet: true };
