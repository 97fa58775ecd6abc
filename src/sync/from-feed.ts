// Feed mode: every row of the feed (in this shard) is checked and handed to the writers; bad rows
// go to the rejects file with their line. Parsing overlaps the writes.
import { CarsError, isCarsError } from '../errors.js';
import type { RejectsFile } from '../import/rejects.js';
import type { RunReport } from '../report.js';
import type { Progress } from '../progress.js';
import type { Feed, FeedItem } from './feed.js';
import { shardOf, type Shard } from './shard.js';
import type { PriceWriter } from './writer.js';
import { readLoop } from '../pipeline/read-loop.js';

export interface FeedRun {
  feed: Feed;
  remote: boolean;
  shard: Shard | undefined;
  writer: PriceWriter;
  rejects: RejectsFile;
  report: RunReport;
  progress: Progress;
  signal: AbortSignal;
}

export interface FeedTally {
  /** Valid rows of this shard, handed to the writers. */
  checked: number;
  rejected: number;
  /** Rows that belong to other shards. */
  skipped: number;
  interrupted: boolean;
}

export async function syncFromFeed(r: FeedRun, tally: FeedTally): Promise<void> {
  const { feed, shard, writer, rejects, report } = r;
  const handle = (item: FeedItem): Promise<void> | undefined => {
    if (shard) {
      // A line too broken to name a VIN belongs to shard 0, so that it is rejected exactly once.
      const key = item.kind === 'row' ? item.vin : item.key;
      if ((key === undefined ? 0 : shardOf(key, shard.count)) !== shard.index) {
        tally.skipped++;
        return undefined;
      }
    }
    if (item.kind === 'reject') {
      tally.rejected++;
      return rejects.add(item.values, item.line, item.error, item.raw);
    }
    tally.checked++;
    return writer.add(item.vin, item.price, item.line);
  };
  let failure: unknown;
  try {
    const stop = await readLoop({
      items: feed.items,
      report,
      signal: r.signal,
      handle,
      readError: (e) => readError(e, feed.name, r.remote),
      afterChunk: () => {
        r.progress.update(tally.checked + tally.rejected, feed.bytesRead());
        return undefined;
      },
    });
    tally.interrupted = stop === 'interrupted';
  } catch (e) {
    failure = e;
  }
  // Rows already read are written either way, so every checked row has its outcome.
  const t0 = performance.now();
  try {
    await writer.close();
  } catch (e) {
    failure ??= e;
    await writer.settle();
  } finally {
    report.add('flush', performance.now() - t0);
  }
  if (failure !== undefined) {
    if (isCarsError(failure) && failure.code === 'REMOTE_FAILED') {
      throw new CarsError('REMOTE_FAILED', `${failure.message}; ${writer.committedSoFar()}`, { cause: failure });
    }
    throw writer.finalError(failure);
  }
}

/** A feed that breaks while it is read: the remote's failure (exit 4), or an unreadable file (exit 2). */
function readError(e: unknown, name: string, remote: boolean): unknown {
  if (isCarsError(e)) return e;
  const why = (e as Error)?.message ?? String(e);
  return remote
    ? new CarsError('REMOTE_FAILED', `${name}: the feed broke while it was read: ${why}`, { cause: e })
    : new CarsError('INPUT_UNREADABLE', `${name}: cannot read the feed: ${why}`, { cause: e });
}
