import { describe, expect, it } from 'vitest';
import { connectionLost } from '../../src/sync/driver.js';

describe('connectionLost', () => {
  it.each([
    ['CONNECTION_CLOSED', true],
    ['ECONNRESET', true],
    ['ECONNREFUSED', true],
    ['57P01', true], // pg_terminate_backend
    ['EPIPE', true], // a query written after the kill
    ['ERR_STREAM_DESTROYED', true],
    ['23505', false], // the server refused a statement: not a lost connection
    ['57014', false], // statement timeout
    [undefined, false],
  ])('%s -> %s', (code, lost) => {
    expect(connectionLost(Object.assign(new Error('x'), { code }))).toBe(lost);
  });
});
