// Opening a path or stdin as a byte stream, gunzipping .gz, counting bytes for progress.
import fs from 'node:fs';
import { createGunzip } from 'node:zlib';
import { pipeline, Readable } from 'node:stream';
import { CarsError } from '../errors.js';

export interface Input {
  name: string;
  /** Decoded (gunzipped) bytes. */
  stream: AsyncIterable<Buffer>;
  /** Size on disk, when known: the progress bar's 100%. */
  totalBytes: number | undefined;
  /** Bytes of the source read so far (compressed bytes for .gz). */
  bytesRead(): number;
  /**
   * The input could end early without an error (stdin, a pipe, an HTTP body with no length): a
   * last line without a line break may then be cut short, and is not taken as it is.
   */
  mayBeCut?: boolean;
}

/** How much is read at a time (see fileInput, and the stream's highWaterMark below). */
const READ_BYTES = 16 * 1024;

/**
 * A plain file, read with synchronous reads, each followed by a turn of the event loop (so the
 * batch writers hear the server between two reads, as with a stream). A stream's asynchronous
 * read cost 65 µs of the main thread per 16 KB (1M rows, 76 MB: 300 ms of CPU, where the importer
 * is CPU-bound); a synchronous one from the page cache costs 10.
 */
function fileInput(source: string, fh: fs.promises.FileHandle, total: number | undefined): Input {
  let read = 0;
  async function* chunks(): AsyncGenerator<Buffer> {
    try {
      for (;;) {
        // A new buffer each time: the records read from it point into it.
        const buf = Buffer.allocUnsafe(READ_BYTES);
        const n = readFile(source, fh.fd, buf, read);
        if (n === 0) return;
        read += n;
        yield n < buf.length ? buf.subarray(0, n) : buf;
        await new Promise((resolve) => setImmediate(resolve));
      }
    } finally {
      await fh.close();
    }
  }
  return { name: source, stream: chunks(), totalBytes: total, bytesRead: () => read };
}

function readFile(source: string, fd: number, buf: Buffer, position: number): number {
  try {
    return fs.readSync(fd, buf, 0, buf.length, position);
  } catch (e) {
    throw new CarsError('INPUT_UNREADABLE', `cannot read ${source}: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * Hands bytes on in pieces of at most `size` (views, not copies). The splitters return every
 * record of what they are given at once, and the records point into it: a 64 KB HTTP read (or
 * gunzip output) kept ~800 rows alive until all were handed to the writers, long enough for V8 to
 * promote them out of the young generation; an endless HTTP CSV stream then held ~120 MB where a
 * file, read 16 KB at a time, holds ~80.
 */
export async function* inPieces(stream: AsyncIterable<Buffer>, size = READ_BYTES): AsyncGenerator<Buffer> {
  for await (const chunk of stream) {
    if (chunk.length <= size) yield chunk;
    else for (let i = 0; i < chunk.length; i += size) yield chunk.subarray(i, i + size);
  }
}

/** Gzip data may unpack to at most this many times the bytes read (`--max-expand`), once past EXPAND_FLOOR. */
export const MAX_EXPAND = 1000;
/** Below this much unpacked, any ratio is fine (a small file of repeated rows packs well). */
export const EXPAND_FLOOR = 64 * 1024 * 1024;

/**
 * Stops gzip data that unpacks to far more than it weighs (a "gzip bomb": 10 MB that unpack to
 * 10 GB of one line keep a core busy for minutes, whatever the record limit does with them).
 */
export async function* limitExpansion(unpacked: AsyncIterable<Buffer>, packedRead: () => number, fail: (message: string) => Error, maxExpand = MAX_EXPAND): AsyncGenerator<Buffer> {
  let n = 0;
  for await (const c of unpacked) {
    n += c.length;
    if (n > EXPAND_FLOOR && n > maxExpand * packedRead()) {
      throw fail(`the gzip data unpacks to more than ${maxExpand} times its size (${Math.round(n / 1048576)} MiB from ${Math.round(packedRead() / 1024)} KiB so far), which is not what an export looks like; stopped (--max-expand raises the limit)`);
    }
    yield c;
  }
}

export async function openInput(source: string, stdin: Readable, opts: { maxExpand?: number } = {}): Promise<Input> {
  let raw: Readable;
  let total: number | undefined;
  if (source === '-') {
    raw = stdin;
  } else {
    try {
      const st = await fs.promises.stat(source);
      if (st.isDirectory()) throw new CarsError('INPUT_UNREADABLE', `${source} is a directory, not a file`);
      total = st.isFile() ? st.size : undefined;
      const fh = await fs.promises.open(source, 'r');
      if (st.isFile()) {
        const head = Buffer.alloc(2);
        const { bytesRead: n } = await fh.read(head, 0, 2, 0).catch(async (e) => {
          await fh.close();
          throw e;
        });
        if (!(n === 2 && head[0] === 0x1f && head[1] === 0x8b)) return fileInput(source, fh, total);
      }
      // Small reads: the parser works through each one without a break, and the batch writers'
      // answers from the server wait for it (256 KB reads kept them waiting 15 ms at a time).
      raw = fh.createReadStream({ highWaterMark: READ_BYTES });
    } catch (e) {
      if (e instanceof CarsError) throw e;
      const code = (e as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (e as Error).message;
      throw new CarsError('INPUT_UNREADABLE', `cannot read ${source}: ${why}`, { cause: e });
    }
  }
  let read = 0;
  const gz = await peekGzip(raw); // by content, so a .gz that is not gzipped still reads
  async function* counted(s: AsyncIterable<Buffer>) {
    for await (const c of s) {
      read += c.length;
      yield c;
    }
  }
  // pipeline() destroys the gunzip stream with the source's error, so the reader sees it.
  const name = source === '-' ? 'stdin' : source;
  const stream: AsyncIterable<Buffer> = gz
    ? limitExpansion(pipeline(Readable.from(counted(raw)), createGunzip(), () => {}), () => read, (m) => new CarsError('INPUT_UNREADABLE', `${name}: ${m}`), opts.maxExpand)
    : counted(raw);
  return { name, stream, totalBytes: total, bytesRead: () => read, mayBeCut: total === undefined };
}

/** Looks at the first two bytes for the gzip magic without consuming them. */
async function peekGzip(s: Readable): Promise<boolean> {
  const first: Buffer | null = await new Promise((resolve, reject) => {
    const onReadable = () => {
      cleanup();
      resolve(s.read() as Buffer | null);
    };
    const onEnd = () => {
      cleanup();
      resolve(null);
    };
    const onError = (e: Error) => {
      cleanup();
      reject(e);
    };
    const cleanup = () => {
      s.off('readable', onReadable);
      s.off('end', onEnd);
      s.off('error', onError);
    };
    s.once('readable', onReadable);
    s.once('end', onEnd);
    s.once('error', onError);
  });
  if (!first) return false;
  s.unshift(first);
  return first.length >= 2 && first[0] === 0x1f && first[1] === 0x8b;
}

/** How much of the start is looked at for a NUL byte: text never holds one. */
const TEXT_PROBE_BYTES = 1024;

/**
 * The input, failing with "not a CSV/text file" when its first KB holds a NUL byte: a spreadsheet,
 * an archive or an image is refused at once instead of being read as rows of garbage (with NULs
 * and escape sequences in the messages). Not for UTF-16 (by option or byte order mark), where
 * every ASCII character carries a NUL.
 */
export function textOnly(input: Input, encoding: string | undefined): Input {
  if (encoding === 'utf-16le' || encoding === 'utf-16be') return input;
  async function* checked(): AsyncGenerator<Buffer> {
    let seen = 0;
    for await (const chunk of input.stream) {
      if (seen < TEXT_PROBE_BYTES) {
        const utf16Bom = seen === 0 && (encoding ?? 'auto') === 'auto' && chunk.length >= 2 && ((chunk[0] === 0xff && chunk[1] === 0xfe) || (chunk[0] === 0xfe && chunk[1] === 0xff));
        const at = utf16Bom ? -1 : chunk.subarray(0, TEXT_PROBE_BYTES - seen).indexOf(0);
        if (at >= 0) throw new CarsError('INPUT_NOT_TEXT', `${input.name} is not a CSV/text file: byte ${seen + at + 1} is NUL (0x00)`);
        seen = utf16Bom ? TEXT_PROBE_BYTES : seen + chunk.length;
      }
      yield chunk;
    }
  }
  return { ...input, stream: checked() };
}
