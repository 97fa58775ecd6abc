// What the library layers may say to the operator. Only src/cli.ts decides where it goes.
export interface Logger {
  /** A line for the human on stderr; dropped with --quiet. */
  info(message: string): void;
  /** A warning: printed even with --quiet. */
  warn(message: string): void;
  /** A line printed at most once per process for this key. */
  once(key: string, message: string): void;
}

export function createLogger(write: (line: string) => void, quiet: boolean): Logger {
  const seen = new Set<string>();
  return {
    info: (m) => {
      if (!quiet) write(m);
    },
    warn: (m) => write(m),
    once: (key, m) => {
      if (seen.has(key)) return;
      seen.add(key);
      write(m);
    },
  };
}

export const silentLogger: Logger = { info() {}, warn() {}, once() {} };
