// NDJSON: one JSON object per line, keys named after the car columns. Lines are split here (not
// by readline) so that a line is only ever parsed once its newline has arrived, or the input has
// ended cleanly: a body cut off mid-stream throws out of the byte stream first, and its partial
// last line is never parsed, loaded or rejected.
import { CAR_COLUMNS } from '../import/validate.js';
import { parseCarJson } from './car-json.js';
import type { Input } from './input.js';
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

  /** Feeds text; returns the lines that are complete (empty lines are skipped, but counted). */
  push(text: string, out: NdjsonLine[] = []): NdjsonLine[] {
    const buf = this.buf ? this.buf + text : text;
    let start = 0;
    for (let eol = buf.indexOf('\n'); eol !== -1; eol = buf.indexOf('\n', start)) {
      this.take(buf.slice(start, eol), out);
      start = eol + 1;
    }
    const rest = start === 0 ? buf : buf.slice(start);
    if (this.skipping) {
      this.buf = '';
    } else if (rest.length > this.maxLineChars) {
      out.push({ kind: 'overlong', line: this.line, raw: preview(rest) });
      this.skipping = true;
      this.buf = '';
    } else {
      this.buf = rest;
    }
    return out;
  }

  /** The input ended cleanly: the last line counts even without a newline. */
  end(out: NdjsonLine[] = []): NdjsonLine[] {
    if (!this.skipping && this.buf) this.take(this.buf, out);
    this.buf = '';
    this.skipping = false;
    return out;
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
    if (text.charCodeAt(text.length - 1) === 13) text = text.slice(0, -1);
    if (!/\S/.test(text)) return;
    out.push({ kind: 'line', line, text });
  }
}

function preview(text: string): string {
  return text.length > RAW_PREVIEW ? `${text.slice(0, RAW_PREVIEW)}…` : text;
}

/** One split line -> a source item: a record, or a malformed line with its line number. */
export function ndjsonItem(l: NdjsonLine, onUnknownKey?: (key: string) => void, maxLineChars = MAX_LINE_CHARS): SourceItem {
  if (l.kind === 'overlong') {
    return { kind: 'malformed', where: l.line, error: `line is longer than ${maxLineChars} characters; one car per line is expected`, raw: l.raw };
  }
  const r = parseCarJson(l.text, onUnknownKey);
  if (r.ok) return { kind: 'record', where: l.line, values: r.values };
  return { kind: 'malformed', where: l.line, error: r.error, raw: l.text, ...(r.values ? { values: r.values } : {}) };
}

/** NDJSON from a byte stream; `columns` are the car columns. */
export function ndjsonSource(input: Input, opts: { onUnknownKey?: (key: string) => void } = {}): RecordSource {
  async function* items(): AsyncGenerator<SourceItem[]> {
    const splitter = new NdjsonSplitter();
    const decoder = new TextDecoder('utf-8'); // strips a BOM, replaces invalid bytes with U+FFFD
    const convert = (lines: NdjsonLine[]) => lines.map((l) => ndjsonItem(l, opts.onUnknownKey));
    // A transfer that breaks throws out of this loop, so end() (which would parse the partial
    // last line) only runs after a clean end of input.
    for await (const chunk of input.stream) {
      const lines = splitter.push(decoder.decode(chunk, { stream: true }));
      if (lines.length) yield convert(lines);
    }
    const last = splitter.end(splitter.push(decoder.decode()));
    if (last.length) yield convert(last);
  }
  return { name: input.name, columns: [...CAR_COLUMNS], items: items(), totalBytes: input.totalBytes, bytesRead: input.bytesRead };
}
