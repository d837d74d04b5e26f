// HS256 verification on every request, synchronously. jose's jwtVerify goes through
// WebCrypto (`crypto.subtle.verify`), which runs each HMAC as a job on libuv's thread pool:
// ~47 µs and a thread hop per call, the largest item of a loaded node's send path
// (docs/benchmarks.md, "Write path, session 2"). node:crypto's HMAC over a key imported
// once takes ~6 µs and no hop. The checks are jose's, for the options Herald uses: the
// algorithm pinned (no `alg: none`, no key confusion), no `crit` extensions, a canonical
// signature compared in constant time, then issuer, audience and the numeric dates.
import { createHmac, createSecretKey, type KeyObject, timingSafeEqual } from 'node:crypto';

export class TokenInvalid extends Error {}
export class TokenExpired extends Error {}

export interface Hs256Options {
  issuer: string;
  audience: string;
}

const SEGMENT = /^[A-Za-z0-9_-]+$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

function json(segment: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(utf8.decode(Buffer.from(segment, 'base64url')));
  } catch {
    throw new TokenInvalid('not JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new TokenInvalid('not an object');
  return v as Record<string, unknown>;
}

/** A date claim: absent, or a finite number of seconds. */
function numericDate(claims: Record<string, unknown>, name: string): number | undefined {
  if (!Object.hasOwn(claims, name)) return undefined;
  const v = claims[name];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new TokenInvalid(`"${name}" is not a number`);
  return v;
}

/** A verifier of HS256 JWTs under one secret; throws TokenInvalid or TokenExpired. */
export function hs256Verifier(
  secret: string,
  opts: Hs256Options,
): (token: string, nowSec?: number) => Record<string, unknown> {
  const key: KeyObject = createSecretKey(Buffer.from(secret, 'utf8'));
  return (token, nowSec = Math.floor(Date.now() / 1000)) => {
    const parts = typeof token === 'string' ? token.split('.') : [];
    if (parts.length !== 3 || !parts.every((p) => SEGMENT.test(p))) throw new TokenInvalid('malformed');
    const [h, p, s] = parts;
    const header = json(h);
    if (header.alg !== 'HS256') throw new TokenInvalid('algorithm not allowed');
    if (Object.hasOwn(header, 'crit') || Object.hasOwn(header, 'b64'))
      throw new TokenInvalid('unsupported header');
    // The expected signature in its one canonical encoding: a re-encoded variant of a
    // valid signature (padding bits, …) is refused, and the comparison takes constant time.
    const expected = Buffer.from(createHmac('sha256', key).update(`${h}.${p}`).digest('base64url'));
    const given = Buffer.from(s);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new TokenInvalid('signature verification failed');
    }
    const claims = json(p);
    if (claims.iss !== opts.issuer) throw new TokenInvalid('unexpected "iss"');
    const aud = claims.aud;
    if (!(aud === opts.audience || (Array.isArray(aud) && aud.includes(opts.audience)))) {
      throw new TokenInvalid('unexpected "aud"');
    }
    numericDate(claims, 'iat');
    const nbf = numericDate(claims, 'nbf');
    if (nbf !== undefined && nbf > nowSec) throw new TokenInvalid('not yet valid');
    const exp = numericDate(claims, 'exp');
    if (exp !== undefined && exp <= nowSec) throw new TokenExpired('expired');
    return claims;
  };
}
