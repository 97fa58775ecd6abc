// cars generate <count>: synthetic cars CSV on stdout, with backpressure.
import { once } from 'node:events';
import { generateCsv } from '../generate.js';
import { nextYear } from '../car.js';

export async function generateCommand(count: number, o: { seed: number; badRate: number }, out: NodeJS.WritableStream): Promise<void> {
  for (const chunk of generateCsv({ count, seed: o.seed, badRate: o.badRate, maxYear: nextYear() })) {
    if (!out.write(chunk)) await once(out as NodeJS.EventEmitter, 'drain');
  }
}
