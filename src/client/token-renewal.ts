// Renewing the token of a live connection before it expires: the new token
// goes to the socket in an `auth` frame (the server re-arms its expiry; no
// reconnect), or, with `renewInPlace: false` or no open socket, to a new socket.
import type { ClientFrame } from '../protocol/frames.ts';
import { type HeraldClientError, toClientError } from './errors.ts';
import type { NamedTimers } from './named-timers.ts';
import type { HeraldClientOptions } from './options.ts';
import { jwtExpiryMs, type TokenKeeper } from './token-keeper.ts';

export interface TokenRenewalDeps {
  opts: HeraldClientOptions;
  tokens: TokenKeeper;
  timers: NamedTimers;
  random: () => number;
  write(frame: ClientFrame): boolean;
  error(err: HeraldClientError): void;
  /** A check that the connection is still on the socket (and connected) it was on when called. */
  sameSocket(): () => boolean;
  /** The renewed token cannot go on this socket: move to a new one. */
  redial(): void;
}

export class TokenRenewal {
  constructor(private readonly deps: TokenRenewalDeps) {}

  /** Arms the renewal for a token expiring at this time (ms since the epoch). */
  schedule(expiresAtMs: number): void {
    const { tokens, timers, opts } = this.deps;
    const delay = tokens.renewalDelay(expiresAtMs, timers.now(), opts.refreshBeforeMs ?? 60_000);
    if (delay !== null) timers.set('renew', delay, () => void this.renew());
  }

  /** Renews now (unless one is running, or the last was too recent: then once, later). */
  async renew(): Promise<void> {
    const { tokens, timers } = this.deps;
    if (!tokens.canRefresh) return;
    const wait = tokens.renewalWait(timers.now());
    if (wait === null) return; // one renewal at a time
    if (wait > 0) {
      // Too soon after the last renewal (or a stale one): once, later.
      timers.set('renew', wait, () => void this.renew());
      return;
    }
    const same = this.deps.sameSocket();
    let token: string;
    try {
      const r = await tokens.renew(() => timers.now(), this.deps.random);
      if (!r.fresh) {
        if (same()) timers.set('renew', r.retryInMs, () => void this.renew());
        return;
      }
      token = r.token;
    } catch (err) {
      // The server will close with TOKEN_EXPIRED; that path refreshes again.
      this.deps.error(toClientError(err, 'TOKEN_REFRESH_FAILED'));
      return;
    }
    if (!same()) return;
    if ((this.deps.opts.renewInPlace ?? true) && this.deps.write({ type: 'auth', token })) {
      tokens.adoptedBySocket(token);
      // The server announces the next expiry with `token_expiring`; a JWT also tells us itself.
      const exp = jwtExpiryMs(token);
      if (exp !== null) this.schedule(exp);
      return;
    }
    this.deps.redial();
  }
}
