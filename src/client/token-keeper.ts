// The access token's life on the client: which token to dial with, one
// shared call to the host's callback however many parts of the SDK ask at
// once, and when to renew ahead of expiry. Renewal is rate-limited: one at a
// time, none sooner than a tenth of the token's life after the last, and a
// token that is not meaningfully fresher than the one it would replace is
// not used: the next try backs off with jitter (a host handing out a cached
// token, or a server re-sending `token_expiring`, must not make a storm).
import { fullJitterDelay } from './backoff.ts';
import { HeraldClientError } from './errors.ts';
import type { TokenRequest } from './options.ts';

/** Renewals are this far apart at least, and a new token must live this much longer. */
const MIN_GAIN_FRACTION = 0.1;
const MIN_GAIN_FLOOR_MS = 1_000;
const MIN_GAIN_CAP_MS = 30_000;
/** When the lifetime is unknown (an opaque token, no expiry heard yet). */
const MIN_GAIN_UNKNOWN_MS = 5_000;
const STALE_BACKOFF = { baseMs: 1_000, maxMs: 30_000 };

export type RenewalResult = { fresh: true; token: string } | { fresh: false; retryInMs: number };

export class TokenKeeper {
  private token: string | undefined;
  private stale = false;
  private inFlight: Promise<string> | null = null;
  /** The token the current (or last) socket was opened with. */
  private socketToken: string | undefined;
  private lastRenewalAt = Number.NEGATIVE_INFINITY;
  /** Expiry of the current token as last heard (welcome, token_expiring, a JWT's exp), in ms. */
  private expiresAtMs: number | null = null;
  private renewing = false;
  /** No renewal before this (spacing after a fresh one, backoff after a stale one). */
  private notBefore = Number.NEGATIVE_INFINITY;
  private staleRenewals = 0;

  constructor(
    initial: string | undefined,
    private readonly getToken: ((req: TokenRequest) => Promise<string>) | undefined,
  ) {
    this.token = initial;
  }

  get current(): string | undefined {
    return this.token;
  }

  get canRefresh(): boolean {
    return this.getToken !== undefined;
  }

  /**
   * The token to open a socket with, refreshing first when it is known to be stale or missing, or
   * has expired by its own `exp` (back after longer than its life: offering it would only be
   * refused with TOKEN_EXPIRED and cost a handshake). One refresh per dial: a clock running ahead
   * of the server's cannot make a loop.
   */
  async forDial(now: number = Date.now()): Promise<string> {
    let token = this.token;
    const exp = token ? jwtExpiryMs(token) : null;
    const expired = exp !== null && now >= exp && this.getToken !== undefined;
    if (this.stale || !token || expired) {
      if (!this.getToken) throw new HeraldClientError(token ? 'TOKEN_EXPIRED' : 'UNAUTHENTICATED');
      token = await this.refresh(token ? 'expired' : 'initial');
    }
    this.socketToken = token;
    return token;
  }

  /** The socket was closed for its token: refresh before the next dial, unless it already changed. */
  socketTokenRejected(): void {
    if (this.token === this.socketToken) this.stale = true;
  }

  /** The live socket took a renewed token (`auth` frame): it is now the socket's token. */
  adoptedBySocket(token: string): void {
    this.socketToken = token;
  }

  /** A welcome proves the dialled token is good; it says when the token expires. */
  accepted(expiresAtMs: number | null = null): void {
    this.stale = false;
    if (expiresAtMs !== null) this.expiresAtMs = expiresAtMs;
  }

  /** The server told us (`token_expiring`) when the current token expires. */
  noteExpiry(expiresAtMs: number | null): void {
    if (expiresAtMs !== null) this.expiresAtMs = expiresAtMs;
  }

  /** Single flight: concurrent callers share one call to the host's getToken. */
  refresh(reason: TokenRequest['reason']): Promise<string> {
    const getToken = this.getToken;
    if (!getToken) return Promise.reject(new HeraldClientError('TOKEN_EXPIRED'));
    this.inFlight ??= (async () => {
      try {
        const token = await getToken({ reason });
        if (typeof token !== 'string' || token === '') throw new HeraldClientError('TOKEN_REFRESH_FAILED');
        this.token = token;
        this.stale = false;
        return token;
      } catch (err) {
        throw err instanceof HeraldClientError
          ? err
          : new HeraldClientError('TOKEN_REFRESH_FAILED', err instanceof Error ? err.message : undefined, {
              cause: err,
            });
      } finally {
        this.inFlight = null;
      }
    })();
    return this.inFlight;
  }

  /** null: a renewal is in flight (nothing to do); 0: renew now; else wait this long first. */
  renewalWait(now: number): number | null {
    if (this.renewing) return null;
    return Math.max(0, this.notBefore - now);
  }

  /**
   * Renewal ahead of expiry (joins a refresh already in flight). Not fresh when the host returns
   * the same token, or one whose expiry is not meaningfully later: then retry after `retryInMs`.
   */
  async renew(now: () => number, random: () => number): Promise<RenewalResult> {
    const before = this.token;
    const beforeExp = before === undefined ? null : (jwtExpiryMs(before) ?? this.expiresAtMs);
    this.renewing = true;
    this.lastRenewalAt = now();
    let token: string;
    try {
      token = await (this.inFlight ?? this.refresh('expiring'));
    } finally {
      this.renewing = false;
    }
    const at = now();
    const exp = jwtExpiryMs(token);
    const gain = minGainMs(exp ?? beforeExp, at);
    if (token === before || (exp !== null && beforeExp !== null && exp - beforeExp < gain)) {
      const retryInMs = gain + fullJitterDelay(this.staleRenewals++, STALE_BACKOFF, random);
      this.notBefore = at + retryInMs;
      return { fresh: false, retryInMs };
    }
    this.staleRenewals = 0;
    this.notBefore = at + gain;
    this.expiresAtMs = exp;
    return { fresh: true, token };
  }

  /**
   * Delay until renewal for a token expiring at `expiresAtMs`, or null for none. A fresh token
   * that already looks expired means our clock runs ahead of the server's: renewing again would
   * loop, so leave it to `token_expiring` / CLOSE.TOKEN_EXPIRED.
   */
  renewalDelay(expiresAtMs: number, now: number, refreshBeforeMs: number): number | null {
    if (!this.getToken) return null;
    const remaining = expiresAtMs - now;
    const lead = Math.min(refreshBeforeMs, Math.max(0, remaining / 2));
    const delay = Math.max(0, remaining - lead);
    if (delay === 0 && now - this.lastRenewalAt < 30_000) return null;
    return delay;
  }
}

/** A tenth of the token's remaining life, within [1 s, 30 s]; 5 s when the life is unknown. */
function minGainMs(expiresAtMs: number | null, now: number): number {
  if (expiresAtMs === null) return MIN_GAIN_UNKNOWN_MS;
  const life = (expiresAtMs - now) * MIN_GAIN_FRACTION;
  return Math.min(MIN_GAIN_CAP_MS, Math.max(MIN_GAIN_FLOOR_MS, life));
}

/** Best effort: the `exp` of a JWT, in ms; null for anything else (opaque host tokens). */
export function jwtExpiryMs(token: string): number | null {
  const part = token.split('.')[1];
  if (!part) return null;
  try {
    const json = atob(
      part
        .replace(/-/g, '+')
        .replace(/_/g, '/')
        .padEnd(Math.ceil(part.length / 4) * 4, '='),
    );
    const exp = (JSON.parse(json) as { exp?: unknown }).exp;
    return typeof exp === 'number' ? normaliseEpoch(exp) : null;
  } catch {
    return null;
  }
}

/** Tokens carry `exp` in seconds; accept either unit on the wire. */
export function normaliseEpoch(value: number | undefined): number | null {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) return null;
  return value < 1e12 ? value * 1000 : value;
}
