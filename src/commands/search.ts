// Placeholder until issue #6 lands.
import { CarsError } from '../errors.js';
import type { Command } from '../runner.js';
import type { SearchOptions } from './contracts.js';

export function searchCommand(_o: SearchOptions): Command {
  return async () => {
    throw new CarsError('NOT_IMPLEMENTED', 'cars search is not available yet (issue #6 has not landed); see the README for what works today');
  };
}
