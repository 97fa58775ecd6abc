// How long to wait before a retry: exponential backoff with full jitter, capped, and a server's
// Retry-After taking precedence. Pure, so the tests can pin `random`.

export interface BackoffOptions {
  /** Delay ceiling of the first retry, in ms. */
  baseMs: number;
  /** No retry waits longer than this (unless the server's Retry-After says so). */
  capMs: number;
}

function checkAttempt(attempt: number): void {
  if (!Number.isInteger(attempt) || attempt < 1) {
    throw new RangeError(`Expected \`attempt\` to be an integer from 1 and up, got ${attempt}`);
  }
}

/**
 * Full jitter: a uniformly random delay in [0, min(cap, base * 2^(attempt-1))).
 * `attempt` is the 1-based retry number (1 = the first retry).
 */
export function backoffDelay(attempt: number, opts: BackoffOptions, random: () => number = Math.random): number {
  checkAttempt(attempt);
  const ceiling = Math.min(opts.capMs, opts.baseMs * 2 ** (attempt - 1));
  return random() * Math.max(0, ceiling);
}

/**
 * The delay before retry number `attempt`. A Retry-After from the server (already parsed to ms)
 * replaces the computed delay and is never undercut: no jitter is taken off it.
 */
export function retryDelay(
  attempt: number,
  retryAfterMs: number | undefined,
  opts: BackoffOptions,
  random: () => number = Math.random,
): number {
  checkAttempt(attempt);
  if (retryAfterMs !== undefined && !Number.isNaN(retryAfterMs)) return Math.max(retryAfterMs, 0);
  return backoffDelay(attempt, opts, random);
}
