// Exponential backoff with FULL jitter (AWS architecture blog, "Exponential
// Backoff And Jitter"): the delay is uniform in [0, min(max, base * 2^attempt)).
// Full jitter, not "equal" jitter, so that a thousand clients dropped by the
// same deploy spread over the whole window instead of arriving in a wave.

//
// The cap bounds how long a client waits once a server is back: a dial is at
// most one window away. With a 20 s cap a node restarted in ~10 s left its
// clients "reconnecting" for ~11 s more (issue 13); 5 s (socket.io's default
// too) reaches a returning server within 5 s, 2.5 s on average, and 10k
// clients still spread over the whole window (~2k dials/s).

export interface BackoffOptions {
  /** Upper bound of the first attempt's window. Default 500 ms. */
  baseMs?: number;
  /** Cap of the window. Default 5 s. */
  maxMs?: number;
}

export const DEFAULT_BACKOFF: Required<BackoffOptions> = { baseMs: 500, maxMs: 5_000 };

/** Delay before retry number `attempt` (0-based); `random` returns [0, 1). */
export function fullJitterDelay(attempt: number, opts: BackoffOptions, random: () => number): number {
  const base = opts.baseMs ?? DEFAULT_BACKOFF.baseMs;
  const max = opts.maxMs ?? DEFAULT_BACKOFF.maxMs;
  const window = Math.min(max, base * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * window);
}

/** The window of a long backoff starts this many doublings later than the usual one. */
const LONG_BACKOFF_SHIFT = 4;

/**
 * A long wait, for a close where only another socket closing helps (TOO_MANY_CONNECTIONS): half
 * to all of a window LONG_BACKOFF_SHIFT doublings wider than the usual one.
 */
export function longJitterDelay(attempt: number, opts: BackoffOptions, random: () => number): number {
  const window = fullJitterDelay(attempt + LONG_BACKOFF_SHIFT, opts, () => 1);
  return Math.floor(window / 2 + (random() * window) / 2);
}
