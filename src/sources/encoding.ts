// Text encodings of the files dealers send: every reader downstream (the CSV splitter, NDJSON)
// works on UTF-8 bytes, so another encoding is transcoded to UTF-8 here, chunk by chunk, in
// constant memory. UTF-8 itself passes through untouched (the importer's byte fast path depends on
// that); bytes that are not valid UTF-8 stay as they are, so that the record holding them is
// rejected at its line instead of being stored with U+FFFD (see invalidUtf8 below).
import { isUtf8 } from 'node:buffer';
import type { Input } from './input.js';

export const ENCODINGS = ['auto', 'utf-8', 'windows-1252', 'iso-8859-1', 'utf-16le', 'utf-16be'] as const;
export type EncodingOption = (typeof ENCODINGS)[number];
export type Encoding = Exclude<EncodingOption, 'auto'>;

/** How much of the input `auto` looks at before it decides. */
export const DETECT_BYTES = 64 * 1024;

/** The characters of Windows-1252's 0x80-0x9F (where it differs from ISO-8859-1); the five unassigned bytes map to the C1 controls, as WHATWG's decoder does. */
const CP1252_HIGH = [
  0x20ac, 0x81, 0x201a, 0x192, 0x201e, 0x2026, 0x2020, 0x2021, 0x2c6, 0x2030, 0x160, 0x2039, 0x152, 0x8d, 0x17d, 0x8f,
  0x90, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x2dc, 0x2122, 0x161, 0x203a, 0x153, 0x9d, 0x17e, 0x178,
];

/** The code point each byte stands for in a single-byte encoding. */
export function singleByteCodePoint(encoding: 'windows-1252' | 'iso-8859-1', b: number): number {
  return encoding === 'windows-1252' && b >= 0x80 && b < 0xa0 ? CP1252_HIGH[b - 0x80] : b;
}

/** Per byte, its UTF-8 (up to 3 bytes) and the length of that. */
interface ByteTable {
  bytes: Uint8Array;
  lengths: Uint8Array;
}

function byteTable(encoding: 'windows-1252' | 'iso-8859-1'): ByteTable {
  const bytes = new Uint8Array(256 * 3);
  const lengths = new Uint8Array(256);
  for (let b = 0; b < 256; b++) {
    const utf8 = Buffer.from(String.fromCodePoint(singleByteCodePoint(encoding, b)), 'utf8');
    bytes.set(utf8, b * 3);
    lengths[b] = utf8.length;
  }
  return { bytes, lengths };
}

const TABLES = { 'windows-1252': byteTable('windows-1252'), 'iso-8859-1': byteTable('iso-8859-1') };

/** A single-byte encoding's bytes as UTF-8; an all-ASCII chunk is returned as it is. */
export function singleByteToUtf8(chunk: Buffer, encoding: 'windows-1252' | 'iso-8859-1'): Buffer {
  const n = chunk.length;
  let i = 0;
  while (i < n && chunk[i] < 0x80) i++;
  if (i === n) return chunk;
  const { bytes, lengths } = TABLES[encoding];
  const out = Buffer.allocUnsafe(i + (n - i) * 3);
  chunk.copy(out, 0, 0, i);
  let o = i;
  // A byte loop on purpose: this runs over every byte of a Windows-1252 file.
  for (; i < n; i++) {
    const b = chunk[i];
    if (b < 0x80) {
      out[o++] = b;
      continue;
    }
    const at = b * 3;
    const len = lengths[b];
    out[o++] = bytes[at];
    out[o++] = bytes[at + 1];
    if (len === 3) out[o++] = bytes[at + 2];
  }
  return out.subarray(0, o);
}

/** A byte never found in UTF-8: stands for a UTF-16 code unit that is not a character (a lone surrogate, an odd last byte). */
const NOT_TEXT = Buffer.from([0xff]);
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** UTF-16 (LE or BE) to UTF-8, across chunk boundaries (an odd byte, a surrogate pair split in two). */
export class Utf16Decoder {
  private carry: Buffer | undefined;

  constructor(private readonly bigEndian: boolean) {}

  push(chunk: Buffer): Buffer {
    let b = this.carry ? Buffer.concat([this.carry, chunk]) : chunk;
    this.carry = undefined;
    let end = b.length & ~1;
    if (end >= 2) {
      const last = this.bigEndian ? (b[end - 2] << 8) | b[end - 1] : (b[end - 1] << 8) | b[end - 2];
      if (last >= 0xd800 && last <= 0xdbff) end -= 2; // its low half is in the next chunk
    }
    if (end < b.length) this.carry = Buffer.from(b.subarray(end));
    b = b.subarray(0, end);
    return this.utf8(b);
  }

  end(): Buffer {
    const rest = this.carry;
    this.carry = undefined;
    if (!rest) return Buffer.alloc(0);
    const even = rest.subarray(0, rest.length & ~1);
    return rest.length & 1 ? Buffer.concat([this.utf8(even), NOT_TEXT]) : this.utf8(even);
  }

  private utf8(b: Buffer): Buffer {
    if (b.length === 0) return b;
    const units = this.bigEndian ? Buffer.from(b).swap16() : b;
    const text = units.toString('utf16le');
    if ((text as unknown as { isWellFormed(): boolean }).isWellFormed()) return Buffer.from(text, 'utf8');
    const parts: Buffer[] = [];
    let from = 0;
    for (const m of text.matchAll(LONE_SURROGATE)) {
      parts.push(Buffer.from(text.slice(from, m.index), 'utf8'), NOT_TEXT);
      from = m.index! + 1;
    }
    parts.push(Buffer.from(text.slice(from), 'utf8'));
    return Buffer.concat(parts);
  }
}

/** The encoding a byte order mark at the start names, and the mark's length. */
export function bomOf(head: Buffer): { encoding: Encoding; length: number } | undefined {
  if (head.length >= 3 && head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) return { encoding: 'utf-8', length: 3 };
  if (head.length >= 2 && head[0] === 0xff && head[1] === 0xfe) return { encoding: 'utf-16le', length: 2 };
  if (head.length >= 2 && head[0] === 0xfe && head[1] === 0xff) return { encoding: 'utf-16be', length: 2 };
  return undefined;
}

/** Whether bytes are UTF-8, not counting a character cut at the end (`complete` false: more follows). */
export function looksUtf8(head: Buffer, complete: boolean): boolean {
  return isUtf8(head.subarray(0, complete ? head.length : completeEnd(head)));
}

/** How an input's bytes are read; known once its first bytes have been (`decided`). */
export interface TextFacts {
  encoding: Encoding;
  /** True when `auto` chose it from the content (not a BOM, not the option). */
  detected: boolean;
  decided: boolean;
  /** A CSV's delimiter, once known. */
  delimiter?: string;
}

/**
 * The input as UTF-8 bytes, without a byte order mark. `auto`: a BOM decides; without one, UTF-8
 * unless the first 64 KB are not valid UTF-8, then Windows-1252 (what Excel's plain "CSV" writes).
 * Nothing is read until the stream is: a transfer that breaks in the first 64 KB still hands on
 * what came before it, then throws.
 */
export function decodeInput(input: Input, option: EncodingOption): { input: Input; facts: TextFacts } {
  const facts: TextFacts = { encoding: option === 'auto' ? 'utf-8' : option, detected: false, decided: false };

  async function* stream(): AsyncGenerator<Buffer> {
    const it = input.stream[Symbol.asyncIterator]();
    try {
      const head: Buffer[] = [];
      let size = 0;
      let done = false;
      let failure: { error: unknown } | undefined;
      // A BOM needs 3 bytes; detection wants DETECT_BYTES. Either way, the head is only looked at.
      try {
        while (size < (option === 'auto' ? DETECT_BYTES : 3)) {
          const r = await it.next();
          if (r.done) {
            done = true;
            break;
          }
          head.push(r.value);
          size += r.value.length;
        }
      } catch (e) {
        failure = { error: e };
      }
      const first = head.length === 1 ? head[0] : Buffer.concat(head, size);
      const bom = bomOf(first);
      if (option === 'auto') {
        if (bom) facts.encoding = bom.encoding;
        else if (!looksUtf8(first, done)) {
          facts.encoding = 'windows-1252';
          facts.detected = true;
        }
      }
      facts.decided = true;
      const convert = converter(facts.encoding);
      const start = bom && bom.encoding === facts.encoding ? first.subarray(bom.length) : first;
      if (start.length) {
        const out = convert.push(start);
        if (out.length) yield out;
      }
      if (failure) throw failure.error;
      if (!done) {
        for (let r = await it.next(); !r.done; r = await it.next()) {
          const out = convert.push(r.value);
          if (out.length) yield out;
        }
      }
      const last = convert.end();
      if (last.length) yield last;
    } finally {
      await it.return?.();
    }
  }
  return { input: { ...input, stream: stream() }, facts };
}

interface Converter {
  push(chunk: Buffer): Buffer;
  end(): Buffer;
}

function converter(encoding: Encoding): Converter {
  switch (encoding) {
    case 'utf-8':
      return { push: (c) => c, end: () => Buffer.alloc(0) };
    case 'windows-1252':
    case 'iso-8859-1':
      return { push: (c) => singleByteToUtf8(c, encoding), end: () => Buffer.alloc(0) };
    case 'utf-16le':
    case 'utf-16be':
      return new Utf16Decoder(encoding === 'utf-16be');
  }
}

/** How an encoding is named to the operator: "windows-1252 (detected)". */
export function encodingLabel(d: { encoding: Encoding; detected: boolean }): string {
  return d.detected ? `${d.encoding} (detected)` : d.encoding;
}

/**
 * For a record whose bytes are not valid UTF-8: the first bad byte, as the message shows it. The
 * bytes of a UTF-16 input that were not characters are 0xFF here (see Utf16Decoder).
 */
export function firstInvalidByte(buf: Buffer, start: number, end: number): number {
  for (let i = start; i < end; ) {
    const b = buf[i];
    const len = b < 0x80 ? 1 : b >= 0xc2 && b < 0xe0 ? 2 : b >= 0xe0 && b < 0xf0 ? 3 : b >= 0xf0 && b < 0xf5 ? 4 : 0;
    if (len === 0 || i + len > end || !isUtf8(buf.subarray(i, i + len))) return b;
    i += len;
  }
  return -1;
}

/** Where an incomplete last character starts in `b` (b.length when the last one is complete). */
function completeEnd(b: Buffer): number {
  const end = b.length;
  for (let k = 1; k <= 3 && end - k >= 0; k++) {
    const x = b[end - k];
    if (x < 0x80) return end;
    if (x >= 0xc0) return (x >= 0xf0 ? 4 : x >= 0xe0 ? 3 : 2) > k ? end - k : end;
  }
  return end;
}

/**
 * UTF-8 bytes to text, where a byte that is not part of a valid character becomes the lone
 * surrogate U+DC00 + byte (Python's "surrogateescape"): text from valid UTF-8 never holds a lone
 * surrogate, so a line with one is known to be broken, and the byte is still there to show.
 */
export class Utf8TextDecoder {
  private carry: Buffer | undefined;

  push(chunk: Buffer): string {
    let b = this.carry ? Buffer.concat([this.carry, chunk]) : chunk;
    this.carry = undefined;
    const end = completeEnd(b);
    if (end < b.length) {
      this.carry = Buffer.from(b.subarray(end));
      b = b.subarray(0, end);
    }
    return isUtf8(b) ? b.toString('utf8') : escapeInvalid(b);
  }

  end(): string {
    const rest = this.carry;
    this.carry = undefined;
    return rest ? escapeInvalid(rest) : '';
  }
}

function escapeInvalid(b: Buffer): string {
  let out = '';
  let run = 0;
  for (let i = 0; i < b.length; ) {
    const x = b[i];
    const len = x < 0x80 ? 1 : x >= 0xc2 && x < 0xe0 ? 2 : x >= 0xe0 && x < 0xf0 ? 3 : x >= 0xf0 && x < 0xf5 ? 4 : 0;
    if (len === 1 || (len > 0 && i + len <= b.length && isUtf8(b.subarray(i, i + len)))) {
      i += len;
      continue;
    }
    out += b.toString('utf8', run, i) + String.fromCharCode(0xdc00 + x);
    i++;
    run = i;
  }
  return out + b.toString('utf8', run);
}

const ESCAPED_BYTE = /[\udc80-\udcff]/;

/** The first byte escaped by Utf8TextDecoder in `text`, or -1. */
export function escapedByte(text: string): number {
  const m = ESCAPED_BYTE.exec(text);
  if (m === null) return -1;
  // (A real low surrogate after a high one is half of a character, not an escape.)
  const i = m.index;
  const before = i > 0 ? text.charCodeAt(i - 1) : 0;
  if (before >= 0xd800 && before <= 0xdbff) {
    const rest = escapedByte(text.slice(i + 1));
    return rest;
  }
  return text.charCodeAt(i) - 0xdc00;
}

/** The text with each escaped byte read as Windows-1252 (for the rejects file). */
export function unescapeAs1252(text: string): string {
  return text.replace(/[\udc80-\udcff]/g, (c) => String.fromCodePoint(singleByteCodePoint('windows-1252', c.charCodeAt(0) - 0xdc00)));
}

/** The message for a record of a UTF-8 input that holds byte `b`, which is not UTF-8. */
export function notUtf8Message(b: number): string {
  const byte = `0x${b.toString(16).toUpperCase().padStart(2, '0')}`;
  return `not valid UTF-8 (byte ${byte}); the file is read as UTF-8: if it was saved as Windows-1252 (Excel's "CSV" on Windows), import it with --encoding windows-1252`;
}
