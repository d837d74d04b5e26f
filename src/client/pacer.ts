// Outgoing pace. The gateway closes a socket that writes more frames than
// its bucket allows (RATE_LIMITED, 4402) and refuses sends beyond the user's
// send budget, and it says both in `welcome.limits`. A reconnect with a full
// outbox would otherwise write everything at once. Two token buckets, one
// for every frame and one for sends, each kept below the server's. Sends: a
// fifth of the burst and 3/5 of the rate, so any window of the server's holds
// at most 4/5 of its budget (burst/5 + 3/5·rate·window, burst = rate·window)
// whether it counts in fixed windows or a token bucket; the rest absorbs
// frames that reach the server bunched (latency varies). Frames: a quarter
// of the burst and 3/4 of the rate, leaving room for what is not paced
// (typing, heartbeats, pings).
import type { WelcomeLimits } from '../protocol/frames.ts';

/** The gateway's defaults, for servers that do not send `welcome.limits`. */
export const DEFAULT_LIMITS: WelcomeLimits = {
  send_per_sec: 20,
  send_burst: 20,
  frames_per_sec: 30,
  frames_burst: 60,
};

class Bucket {
  private tokens: number;
  private at: number;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.at = now;
  }

  available(now: number): number {
    this.tokens = Math.min(this.burst, this.tokens + (Math.max(0, now - this.at) / 1000) * this.rate);
    this.at = now;
    return this.tokens;
  }

  /** Takes one token; may go into debt (frames that are written regardless). */
  take(now: number): void {
    this.available(now);
    this.tokens -= 1;
  }

  /** Milliseconds until one token is available. */
  waitMs(now: number): number {
    const missing = 1 - this.available(now);
    return missing <= 0 ? 0 : Math.ceil((missing / this.rate) * 1000);
  }
}

export class Pacer {
  private frames: Bucket;
  private sends: Bucket;

  constructor(now: number) {
    this.frames = frameBucket(DEFAULT_LIMITS, now);
    this.sends = sendBucket(DEFAULT_LIMITS, now);
  }

  /** A new connection: the server's buckets start full, and may announce other limits. */
  reset(limits: Partial<WelcomeLimits> | undefined, now: number): void {
    const l = { ...DEFAULT_LIMITS, ...validLimits(limits) };
    this.frames = frameBucket(l, now);
    this.sends = sendBucket(l, now);
  }

  /** Counts a frame written now (paced or not). */
  frameWritten(now: number): void {
    this.frames.take(now);
  }

  /** Counts a send written now (its frame is counted by frameWritten). */
  sendWritten(now: number): void {
    this.sends.take(now);
  }

  /** 0 when a paced frame (a send, when `send`) may go now; else how long to wait. */
  waitMs(now: number, send: boolean): number {
    const f = this.frames.waitMs(now);
    return send ? Math.max(f, this.sends.waitMs(now)) : f;
  }
}

function frameBucket(l: WelcomeLimits, now: number): Bucket {
  return new Bucket(l.frames_per_sec * 0.75, Math.max(1, Math.floor(l.frames_burst / 4)), now);
}

function sendBucket(l: WelcomeLimits, now: number): Bucket {
  return new Bucket(l.send_per_sec * 0.6, Math.max(1, Math.floor(l.send_burst / 5)), now);
}

/** Only positive finite numbers replace a default: a malformed field must not stop all sends. */
function validLimits(limits: Partial<WelcomeLimits> | undefined): Partial<WelcomeLimits> {
  const out: Partial<WelcomeLimits> = {};
  if (!limits || typeof limits !== 'object') return out;
  for (const k of Object.keys(DEFAULT_LIMITS) as (keyof WelcomeLimits)[]) {
    const v = limits[k];
    if (typeof v === 'number' && Number.isFinite(v) && v > 0) out[k] = v;
  }
  return out;
}
