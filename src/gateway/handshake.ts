// Who may open a connection: the token, the Origin against the tenant's allow-list and
// the per-user handshake rate — for WebSocket, SSE and the typing route alike. The token
// itself is never logged.
import type { AccessClaims } from '../auth/tokens.ts';
import type { ConnectionReader } from '../domain/read-ports.ts';
import type { Limiter } from '../limits/port.ts';
import { CLOSE, type ErrorCode, HeraldError } from '../protocol/index.ts';
import type { HandshakeFailure } from './metrics.ts';
import type { ResolvedOptions } from './options.ts';

export interface AuthFailure {
  reason: HandshakeFailure;
  code: ErrorCode;
  close: number;
  message: string;
}

export type AuthResult = { ok: true; claims: AccessClaims } | ({ ok: false } & AuthFailure);

const ORIGIN_CACHE_MS = 30_000;

export class Handshake {
  private readonly origins = new Map<string, { list: string[] | null; at: number }>();

  constructor(
    private readonly opts: ResolvedOptions,
    /** Handshakes per tenant user (cluster-wide when the host passes Redis limiters). */
    private readonly userLimiter: Limiter,
    private readonly reads: Pick<ConnectionReader, 'origins'>,
  ) {}

  async authorize(token: string, origin: string | undefined, host: string | undefined): Promise<AuthResult> {
    let claims: AccessClaims;
    try {
      claims = await this.opts.tokens.verify(token);
    } catch (err) {
      // A store outage is not a bad token: the caller reports it as STORE_UNAVAILABLE.
      if (err instanceof HeraldError && err.code === 'STORE_UNAVAILABLE') throw err;
      const expired = err instanceof HeraldError && err.code === 'TOKEN_EXPIRED';
      return expired
        ? {
            ok: false,
            reason: 'token_expired',
            code: 'TOKEN_EXPIRED',
            close: CLOSE.TOKEN_EXPIRED,
            message: 'The access token has expired.',
          }
        : {
            ok: false,
            reason: 'unauthenticated',
            code: 'UNAUTHENTICATED',
            close: CLOSE.UNAUTHENTICATED,
            message: 'Invalid access token.',
          };
    }
    const allowed = await this.allowedOrigins(claims.tenant_id);
    if (allowed === null) {
      return {
        ok: false,
        reason: 'tenant_not_found',
        code: 'UNAUTHENTICATED',
        close: CLOSE.UNAUTHENTICATED,
        message: 'Unknown tenant.',
      };
    }
    if (!originAllowed(origin, host, allowed)) {
      return {
        ok: false,
        reason: 'origin',
        code: 'ORIGIN_NOT_ALLOWED',
        close: CLOSE.ORIGIN_NOT_ALLOWED,
        message: 'The Origin is not on the tenant allow-list.',
      };
    }
    if (!(await this.userLimiter.take(`${claims.tenant_id}:${claims.user_id}`)).ok) {
      return {
        ok: false,
        reason: 'rate_limited_user',
        code: 'RATE_LIMITED',
        close: CLOSE.RATE_LIMITED,
        message: 'Too many connection attempts.',
      };
    }
    return { ok: true, claims };
  }

  private async allowedOrigins(tenant: string): Promise<string[] | null> {
    const now = Date.now();
    const hit = this.origins.get(tenant);
    if (hit && now - hit.at < ORIGIN_CACHE_MS) return hit.list;
    const list = await this.reads.origins(tenant);
    if (this.origins.size > 10_000) this.origins.clear();
    this.origins.set(tenant, { list, at: now });
    return list;
  }
}

/**
 * Origin policy: a request without Origin (native and server clients; browsers
 * always send one) is allowed; a same-origin page (Origin host = Host) is
 * allowed; otherwise the Origin must be on the tenant's allow-list, where "*"
 * allows any. An empty list therefore admits no cross-origin browser page.
 */
export function originAllowed(
  origin: string | undefined,
  host: string | undefined,
  allowed: readonly string[],
): boolean {
  if (!origin) return true;
  const o = origin.trim().toLowerCase().replace(/\/+$/, '');
  if (allowed.includes('*')) return true;
  if (allowed.some((a) => a.trim().toLowerCase().replace(/\/+$/, '') === o)) return true;
  if (host) {
    try {
      if (new URL(o).host === host.toLowerCase()) return true;
    } catch {
      return false;
    }
  }
  return false;
}
