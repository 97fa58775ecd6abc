// PostgreSQL COPY text format: one line per row, TAB between columns, \N for NULL.
const SPECIAL = /[\\\t\n\r\0]/;
const ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r', '\0': '' };

export function copyValue(v: string | number | null | undefined): string {
  if (v === null || v === undefined) return '\\N';
  const s = typeof v === 'string' ? v : String(v);
  return SPECIAL.test(s) ? s.replace(/[\\\t\n\r\0]/g, (c) => ESCAPES[c]) : s;
}

/** One line; built with join() so it is one flat string, not a tree of concatenations. */
export function copyLine(values: Array<string | number | null | undefined>): string {
  const cells = new Array<string>(values.length);
  for (let i = 0; i < values.length; i++) cells[i] = copyValue(values[i]);
  cells[values.length - 1] += '\n';
  return cells.join('\t');
}

/** Groups lines into chunks of about `size` characters: COPY is much faster fed ~64 KB at a time. */
export function* chunked(lines: Iterable<string>, size = 65536): Generator<string> {
  let buf = '';
  for (const l of lines) {
    buf += l;
    if (buf.length >= size) {
      yield buf;
      buf = '';
    }
  }
  if (buf) yield buf;
}
