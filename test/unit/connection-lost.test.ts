import { describe, expect, it } from 'vitest';
import { isConnectionError } from '../../src/db/pool.js';

describe('isConnectionError', () => {
  it.each([
    ['CONNECTION_CLOSED', true],
    ['ECONNRESET', true],
    ['ECONNREFUSED', true],
    ['57P01', true], // pg_terminate_backend
    ['EPIPE', true], // a query written after the kill
    ['ERR_STREAM_DESTROYED', true],
    ['ECONNABORTED', true],
    ['ERR_SOCKET_CLOSED', true],
    ['23505', false], // the server refused a statement: not a lost connection
    ['57014', false], // statement timeout
    [undefined, false],
  ])('%s -> %s', (code, lost) => {
    expect(isConnectionError(Object.assign(new Error('x'), { code }))).toBe(lost);
  });
});
