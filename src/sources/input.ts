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
}

export async function openInput(source: string, stdin: Readable): Promise<Input> {
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
      // Small reads: the parser works through each one without a break, and the batch writers'
      // answers from the server wait for it (256 KB reads kept them waiting 15 ms at a time).
      raw = fh.createReadStream({ highWaterMark: 16 * 1024 });
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
  const stream: AsyncIterable<Buffer> = gz ? pipeline(Readable.from(counted(raw)), createGunzip(), () => {}) : counted(raw);
  return { name: source === '-' ? 'stdin' : source, stream, totalBytes: total, bytesRead: () => read };
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
