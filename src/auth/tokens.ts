// Access tokens: short-lived HS256 JWTs (jose) naming the user, the tenants
// the session was granted and the active tenant. Verification pins the algorithm, so
// `alg: none` and key-confusion tokens are rejected.
import { SignJWT } from 'jose';
import { HeraldError } from '../protocol/index.ts';
import { hs256Verifier, TokenExpired } from './hs256.ts';

export interface AccessClaims {
  /** Active tenant: every call is scoped to it. */
  tenant_id: string;
  user_id: string;
  /** Tenants this session was granted and may switch to (the active one first). */
  tenants: string[];
  /** Expiry, seconds since the epoch. */
  exp: number;
  /** Refresh-token family this access token belongs to (absent for host-issued tokens). */
  sid?: string;
}

export interface AccessTokens {
  mint(claims: Omit<AccessClaims, 'exp'>, ttlSec?: number): Promise<{ token: string; exp: number }>;
  verify(token: string): Promise<AccessClaims>;
}

const ISSUER = 'herald';
const AUDIENCE = 'herald';

/**
 * The HMAC key, imported on first use and kept: jose re-imports a raw Uint8Array secret on
 * every sign and verify (crypto.subtle.importKey), which was 7–9 % of a loaded node's CPU.
 */
export function hmacKey(secret: string): () => Promise<CryptoKey> {
  let imported: Promise<CryptoKey> | null = null;
  return () => {
    imported ??= crypto.subtle.importKey(
      'raw',
      new TextEncoder().encode(secret),
      { name: 'HMAC', hash: 'SHA-256' },
      false,
      ['sign', 'verify'],
    );
    return imported;
  };
}

export function accessTokens(secret: string, defaultTtlSec: number): AccessTokens {
  const key = hmacKey(secret);
  // Verified synchronously (hs256.ts): every request and handshake verifies a token.
  const verifyHs256 = hs256Verifier(secret, { issuer: ISSUER, audience: AUDIENCE });
  return {
    async mint(claims, ttlSec = defaultTtlSec) {
      const exp = Math.floor(Date.now() / 1000) + ttlSec;
      const token = await new SignJWT({ tid: claims.tenant_id, tenants: claims.tenants, sid: claims.sid })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject(claims.user_id)
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setIssuedAt()
        .setExpirationTime(exp)
        .sign(await key());
      return { token, exp };
    },
    async verify(token) {
      try {
        const payload = verifyHs256(token);
        if (
          typeof payload.sub !== 'string' ||
          typeof payload.tid !== 'string' ||
          typeof payload.exp !== 'number'
        ) {
          throw new HeraldError('UNAUTHENTICATED', 'The token lacks required claims.');
        }
        const tenants = Array.isArray(payload.tenants)
          ? payload.tenants.filter((t) => typeof t === 'string')
          : [];
        return {
          tenant_id: payload.tid,
          user_id: payload.sub,
          tenants: tenants.includes(payload.tid) ? tenants : [payload.tid, ...tenants],
          exp: payload.exp,
          sid: typeof payload.sid === 'string' ? payload.sid : undefined,
        };
      } catch (err) {
        if (err instanceof HeraldError) throw err;
        if (err instanceof TokenExpired) throw new HeraldError('TOKEN_EXPIRED');
        throw new HeraldError('UNAUTHENTICATED', 'Invalid access token.');
      }
    },
  };
}
