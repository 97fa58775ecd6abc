// Placeholder until issue #4 lands.
import { CarsError } from '../errors.js';
import type { ImportOptions } from '../commands/import.js';
import type { Deps } from '../runner.js';
import type { RecordSource } from './records.js';

export async function openRemoteSource(source: string, _o: ImportOptions, _deps: Deps): Promise<RecordSource> {
  throw new CarsError('NOT_IMPLEMENTED', `${source}: importing from URLs and --format ndjson/json have not landed yet (issue #4)`);
}
