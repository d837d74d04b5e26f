// Verification of the host application's own JWTs, for deployments where
// the host already issues tokens and Herald should not mint its own.
// Claims: `sub` = user id, `<tenantClaim>` (default `tenant_id`) = active
// tenant, optional `tenants` (string[]) = tenants the user may switch to,
// `exp` required. HS256 with a shared secret, or asymmetric keys from JWKS
// (HMAC is never accepted from a JWKS, so no key confusion).
import { createRemoteJWKSet, errors, type JWTPayload, jwtVerify } from 'jose';
import type { HostJwtConfig } from '../config.ts';
import { HeraldError, unsafeText } from '../protocol/index.ts';
import { hmacKey } from './tokens.ts';

export interface HostClaims {
  tenant_id: string;
  user_id: string;
  tenants: string[];
  exp: number;
}

export type HostVerifier = (token: string) => Promise<HostClaims>;

const ASYMMETRIC = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

export function hostVerifier(cfg: HostJwtConfig): HostVerifier {
  const opts = {
    issuer: cfg.issuer ?? undefined,
    audience: cfg.audience ?? undefined,
    requiredClaims: ['exp', 'sub'],
  };
  const verify: (token: string) => Promise<JWTPayload> = cfg.secret
    ? (() => {
        const key = hmacKey(cfg.secret as string);
        return async (token) =>
          (await jwtVerify(token, await key(), { ...opts, algorithms: ['HS256'] })).payload;
      })()
    : (() => {
        const jwks = createRemoteJWKSet(new URL(cfg.jwksUrl as string));
        return async (token) => (await jwtVerify(token, jwks, { ...opts, algorithms: ASYMMETRIC })).payload;
      })();
  return async (token) => {
    let payload: JWTPayload;
    try {
      payload = await verify(token);
    } catch (err) {
      if (err instanceof errors.JWTExpired) throw new HeraldError('TOKEN_EXPIRED');
      throw new HeraldError('UNAUTHENTICATED', 'Invalid access token.');
    }
    const tenant = payload[cfg.tenantClaim];
    if (typeof payload.sub !== 'string' || typeof tenant !== 'string' || typeof payload.exp !== 'number') {
      throw new HeraldError('UNAUTHENTICATED', 'The token lacks required claims.');
    }
    // The host signs these, but they become user and tenant ids: the same input rules apply
    // as to every other id (a U+0000 in `sub` used to reach the store and fail there).
    if (!usableId(payload.sub) || !usableId(tenant))
      throw new HeraldError('UNAUTHENTICATED', 'The token names an invalid user or tenant id.');
    const listed = Array.isArray(payload.tenants)
      ? payload.tenants.filter((t): t is string => typeof t === 'string' && usableId(t))
      : [];
    return {
      tenant_id: tenant,
      user_id: payload.sub,
      tenants: listed.includes(tenant) ? listed : [tenant, ...listed],
      exp: payload.exp,
    };
  };
}

/** An id Herald can store and route: 1–128 characters, no whitespace, nothing the store refuses. */
function usableId(id: string): boolean {
  return id.length >= 1 && id.length <= 128 && !/\s/.test(id) && unsafeText(id) === null;
}
