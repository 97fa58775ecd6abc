// Placeholder until issue #6 lands.
import { CarsError } from '../errors.js';
import type { Command } from '../runner.js';
import type { ExplainOptions } from './contracts.js';

export function explainCommand(_name: string | undefined, _o: ExplainOptions): Command {
  return async () => {
    throw new CarsError('NOT_IMPLEMENTED', 'cars explain is not available yet (issue #6 has not landed); see the README for what works today');
  };
}
