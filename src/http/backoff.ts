// How long to wait before a retry: exponential backoff with full jitter, capped, and a server's
// Retry-After taking precedence. Pure, so the tests can pin `random`.

export interface BackoffOptions {
  /** Delay ceiling of the first retry, in ms. */
  baseMs: number;
  /** No retry waits longer than this (unless the server's Retry-After says so). */
  capMs: number;
  /** How much the ceiling grows with each retry. Default 2. */
  factor?: number;
}

/**
 * After a fault without Retry-After (a 5xx, a broken connection): the first retry comes soon (a
 * blip is usually over at once, and the token bucket already caps what retries add to the
 * server's load); the ceiling then grows threefold, so the default 5 retries still span seconds
 * (50 + 150 + 450 + 1350 + 4050 ms at most) for an outage to pass.
 */
export const FAULT_BACKOFF: Required<BackoffOptions> = { baseMs: 50, factor: 3, capMs: 30_000 };
/** After a 429 without Retry-After: the server wants fewer requests, so the waits start longer. */
export const THROTTLE_BACKOFF: Required<BackoffOptions> = { baseMs: 250, factor: 2, capMs: 30_000 };

function checkAttempt(attempt: number): void {
  if (!Number.isInteger(attempt) || attempt < 1) {
    throw new RangeError(`Expected \`attempt\` to be an integer from 1 and up, got ${attempt}`);
  }
}

/**
 * Full jitter: a uniformly random delay in [0, min(cap, base * factor^(attempt-1))).
 * `attempt` is the 1-based retry number (1 = the first retry).
 */
export function backoffDelay(attempt: number, opts: BackoffOptions, random: () => number = Math.random): number {
  checkAttempt(attempt);
  const factor = opts.factor ?? 2;
  if (!(factor >= 1)) throw new RangeError(`Expected \`factor\` to be a number from 1 and up, got ${factor}`);
  const ceiling = Math.min(opts.capMs, opts.baseMs * factor ** (attempt - 1));
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
