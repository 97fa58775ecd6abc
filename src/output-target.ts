// An output file named on the command line (--metrics-file, --rejects, --failures) is checked
// before any work: a run that loaded a million rows must not fail at its end for a typo.
import fs from 'node:fs';
import path from 'node:path';
import { CarsError } from './errors.js';

/**
 * Throws OUTPUT_UNWRITABLE (exit 2) unless `file` can be created (or, with `replace`, replaced)
 * in its folder; OUTPUT_EXISTS when it exists and may not be replaced.
 */
export function checkOutputTarget(option: string, file: string, replace = true): void {
  const target = path.resolve(file);
  const dir = path.dirname(target);
  const fail = (why: string) => new CarsError('OUTPUT_UNWRITABLE', `${option} ${file}: ${why}`);
  const stat = fs.statSync(target, { throwIfNoEntry: false });
  if (stat?.isDirectory()) throw fail('is a folder; name a file in it');
  if (stat && !replace) throw new CarsError('OUTPUT_EXISTS', `${option} ${file}: the file exists already; pass --overwrite to replace it, or name a new file`);
  const folder = fs.statSync(dir, { throwIfNoEntry: false });
  if (!folder) throw fail(`the folder ${dir} does not exist`);
  if (!folder.isDirectory()) throw fail(`${dir} is not a folder`);
  try {
    fs.accessSync(dir, fs.constants.W_OK | fs.constants.X_OK);
    if (stat) fs.accessSync(target, fs.constants.W_OK);
  } catch {
    throw fail(stat ? 'the file is not writable' : `the folder ${dir} is not writable`);
  }
}
