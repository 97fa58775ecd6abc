// Placeholder until issue #5 lands.
import { CarsError } from '../errors.js';
import type { Command } from '../runner.js';
import type { SyncOptions } from './contracts.js';

export function syncPricesCommand(_o: SyncOptions): Command {
  return async () => {
    throw new CarsError('NOT_IMPLEMENTED', 'cars sync-prices is not available yet (issue #5 has not landed); see the README for what works today');
  };
}
