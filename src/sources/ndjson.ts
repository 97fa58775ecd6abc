// NDJSON: one JSON object per line, keys named after the car columns. Lines are split here (not
// by readline) so that a line is only ever parsed once its newline has arrived, or the input has
// ended cleanly: a body cut off mid-stream throws out of the byte stream first, and its partial
// last line is never parsed, loaded or rejected.
import { CAR_COLUMNS } from '../car.js';
import { parseCarJson } from './car-json.js';
import type { Input } from './input.js';
import { ColumnMap } from './column-map.js';
import { decodeInput, escapedByte, notUtf8Message, unescapeAs1252, Utf8TextDecoder, type EncodingOption } from './encoding.js';
import type { RecordSource, SourceItem } from './records.js';

/** A line longer than this (1 MiB) is rejected without being held whole. */
export const MAX_LINE_CHARS = 1 << 20;
const RAW_PREVIEW = 200;

export type NdjsonLine = { kind: 'line'; line: number; text: string } | { kind: 'overlong'; line: number; raw: string };

export class NdjsonSplitter {
  private buf = '';
  private line = 1;
  /** Inside a line already rejected as too long: drop text up to its newline. */
  private skipping = false;

  constructor(private readonly maxLineChars = MAX_LINE_CHARS) {}

  /** The last line ended with the input, without a line break (see `unterminated`). */
  private endedOpen = false;

  /** Feeds text; returns the lines that are complete (empty lines are skipped, but counted). LF, CR LF and a lone CR end a line. */
  push(text: string, out: NdjsonLine[] = []): NdjsonLine[] {
    const buf = this.buf ? this.buf + text : text;
    let start = 0;
    for (let eol = nextBreak(buf, 0); eol !== -1; eol = nextBreak(buf, start)) {
      // A CR last in what has arrived may be half of CR LF: wait for the next text.
      if (buf.charCodeAt(eol) === 13 && eol + 1 >= buf.length) break;
      this.take(buf.slice(start, eol), out);
      start = eol + (buf.charCodeAt(eol) === 13 && buf.charCodeAt(eol + 1) === 10 ? 2 : 1);
    }
    const rest = start === 0 ? buf : buf.slice(start);
    if (this.skipping) {
      this.buf = rest.endsWith('\r') ? '\r' : '';
    } else if (rest.length - (rest.endsWith('\r') ? 1 : 0) > this.maxLineChars) {
      out.push({ kind: 'overlong', line: this.line, raw: preview(rest) });
      this.skipping = true;
      this.buf = rest.endsWith('\r') ? '\r' : ''; // (a CR held back may end the line)
    } else {
      this.buf = rest;
    }
    return out;
  }

  /** The input ended cleanly: the last line counts even without a line break. */
  end(out: NdjsonLine[] = []): NdjsonLine[] {
    this.endedOpen = false;
    // (A CR last is a line break that no LF followed.)
    const open = !this.buf.endsWith('\r');
    const text = open ? this.buf : this.buf.slice(0, -1);
    if (!this.skipping && text) {
      const before = out.length;
      this.take(text, out);
      this.endedOpen = open && out.length > before;
    }
    this.buf = '';
    this.skipping = false;
    return out;
  }

  /** Whether the last line came without a line break after it (it may have been cut short). */
  get unterminated(): boolean {
    return this.endedOpen;
  }

  private take(text: string, out: NdjsonLine[]): void {
    const line = this.line++;
    if (this.skipping) {
      this.skipping = false;
      return;
    }
    if (text.length > this.maxLineChars) {
      out.push({ kind: 'overlong', line, raw: preview(text) });
      return;
    }
    if (!/\S/.test(text)) return;
    out.push({ kind: 'line', line, text });
  }
}

/** Where the next LF or CR is in `s` from `from`, or -1. */
function nextBreak(s: string, from: number): number {
  const lf = s.indexOf('\n', from);
  const cr = s.indexOf('\r', from);
  return cr !== -1 && (lf === -1 || cr < lf) ? cr : lf;
}

function preview(text: string): string {
  return text.length > RAW_PREVIEW ? `${text.slice(0, RAW_PREVIEW)}…` : text;
}

/** A last line without a line break, from an input that may have been cut: refused, not guessed at. */
export function possiblyCut(l: NdjsonLine, name: string): SourceItem {
  return { kind: 'malformed', where: l.line, error: `possibly cut: ${name} ended in the middle of this line (no line break after it); if the line is complete, run again with --accept-unterminated`, raw: l.kind === 'line' ? l.text : l.raw };
}

/** One split line -> a source item: a record, or a malformed line with its line number. */
export function ndjsonItem(l: NdjsonLine, keys?: ColumnMap, maxLineChars = MAX_LINE_CHARS): SourceItem {
  if (l.kind === 'overlong') {
    return { kind: 'malformed', where: l.line, error: `line is longer than ${maxLineChars} characters; one car per line is expected`, raw: l.raw };
  }
  const bad = escapedByte(l.text);
  if (bad >= 0) return { kind: 'malformed', where: l.line, error: notUtf8Message(bad), raw: unescapeAs1252(l.text) };
  const r = parseCarJson(l.text, keys);
  if (r.ok) return { kind: 'record', where: l.line, values: r.values };
  return { kind: 'malformed', where: l.line, error: r.error, raw: l.text, ...(r.values ? { values: r.values } : {}) };
}

/**
 * NDJSON from a byte stream (decoded to UTF-8 first, see encoding.ts); `columns` are the car
 * columns, keys are mapped to them by `keys`.
 */
export function ndjsonSource(raw: Input, opts: { keys?: ColumnMap; encoding?: EncodingOption; acceptUnterminated?: boolean; maxLineChars?: number } = {}): RecordSource {
  const { input, facts } = decodeInput(raw, opts.encoding ?? 'auto');
  const keys = opts.keys ?? new ColumnMap();
  async function* items(): AsyncGenerator<SourceItem[]> {
    const splitter = new NdjsonSplitter(opts.maxLineChars);
    // Bytes that are not UTF-8 are escaped (never U+FFFD): their line is refused, not stored.
    const decoder = new Utf8TextDecoder();
    const convert = (lines: NdjsonLine[]) => lines.map((l) => ndjsonItem(l, keys, opts.maxLineChars));
    // A transfer that breaks throws out of this loop, so end() (which would parse the partial
    // last line) only runs after a clean end of input.
    for await (const chunk of input.stream) {
      // Empty too: the reader checks for an interrupt between chunks.
      yield convert(splitter.push(decoder.push(chunk)));
    }
    const lines = splitter.end(splitter.push(decoder.end()));
    const cut = splitter.unterminated && raw.mayBeCut && !opts.acceptUnterminated ? lines.pop() : undefined;
    const last = convert(lines);
    if (cut) last.push(possiblyCut(cut, input.name));
    if (last.length) yield last;
  }
  return {
    name: input.name,
    columns: [...CAR_COLUMNS],
    items: items(),
    totalBytes: input.totalBytes,
    bytesRead: input.bytesRead,
    text: facts,
    columnMap: keys,
  };
}
