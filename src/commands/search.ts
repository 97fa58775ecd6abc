// cars search: the listing, newest first, a page at a time (keyset pagination, never OFFSET).
import { namedQuery } from '../db/queries.js';
import type { Command, Outcome } from '../runner.js';
import type { SearchOptions } from '../search/listing.js';
import { decodeCursor } from '../search/cursor.js';
import { LISTING_QUERY, listingParams, toPage } from '../search/listing.js';
import { formatPage } from '../search/format.js';

/** Checks the options at once (a usage error needs no database), then returns the work. */
export function searchCommand(o: SearchOptions): Command {
  const after = o.after === undefined ? null : decodeCursor(o.after);
  const params = listingParams(o, after);
  return async (deps): Promise<Outcome | void> => {
    // The named query file is the one source of the SQL; only values are bound, never spliced.
    const { text } = namedQuery(LISTING_QUERY);
    const rows = await deps.report.phase('query', () => deps.db.sql.unsafe(text, params as never[]));
    const page = toPage(rows, o.limit);
    deps.report.rows.returned = page.items.length;
    deps.report.extra.items = page.items;
    deps.report.extra.next = page.next;

    // Data goes to stdout unless --json owns it.
    if (deps.json) return;
    deps.stdout.write(formatPage(page, o.format));
    if (o.format === 'csv' && page.next) deps.log.info(`next page: --after ${page.next}`);
  };
}
