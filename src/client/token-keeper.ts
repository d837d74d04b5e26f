// The access token's life on the client: which token to dial with, one
// shared call to the host's callback however many parts of the SDK ask at
// once, and when to renew ahead of expiry.
import { HeraldClientError } from './errors.ts';
import type { TokenRequest } from './options.ts';

export class TokenKeeper {
  private token: string | undefined;
  private stale = false;
  private inFlight: Promise<string> | null = null;
  /** The token the current (or last) socket was opened with. */
  private socketToken: string | undefined;
  private lastRenewalAt = Number.NEGATIVE_INFINITY;

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

  /** The token to open a socket with, refreshing first when it is known to be stale or missing. */
  async forDial(): Promise<string> {
    let token = this.token;
    if (this.stale || !token) {
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

  /** A welcome proves the dialled token is good. */
  accepted(): void {
    this.stale = false;
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

  /** Renewal ahead of expiry: joins a refresh already in flight. */
  renew(now: number): Promise<string> {
    this.lastRenewalAt = now;
    return this.inFlight ?? this.refresh('expiring');
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
