import { describe, expect, it } from 'vitest';
import postgres from 'postgres';
import { isDataError, isTransientError } from '../../src/db/sqlstate.js';

/** A server error as the driver makes it (PostgresError takes the ErrorResponse fields). */
const pgError = (code: string) => Object.assign(new (postgres.PostgresError as unknown as new (x: object) => Error)({ message: `error ${code}` }), { code });

describe('server errors: the data, or the moment', () => {
  it.each([
    ['40P01', 'deadlock', true, false],
    ['40001', 'serialization failure', true, false],
    ['57014', 'statement timeout', true, false],
    ['55P03', 'lock not available', true, false],
    ['53300', 'too many connections', true, false],
    ['22P02', 'invalid text representation', false, true],
    ['22003', 'numeric out of range', false, true],
    ['23514', 'check violation', false, true],
    ['23505', 'unique violation', false, true],
    ['42P01', 'undefined table', false, false],
    ['57P01', 'admin shutdown (a lost connection)', false, false],
  ])('%s %s: transient %s, data %s', (code, _what, transient, data) => {
    const e = pgError(code);
    expect(isTransientError(e)).toBe(transient);
    expect(isDataError(e)).toBe(data);
  });

  it('errors that are not the server\'s are neither', () => {
    const e = Object.assign(new Error('socket'), { code: 'ECONNRESET' });
    expect(isTransientError(e)).toBe(false);
    expect(isDataError(e)).toBe(false);
  });
});
