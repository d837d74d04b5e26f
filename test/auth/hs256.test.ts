// The synchronous HS256 verifier (src/auth/hs256.ts) against jose's jwtVerify, which it
// replaced on the request path: for every token below both must give the same verdict
// (valid, expired, or invalid) — except where it is stricter on purpose: jose decodes the
// signature leniently, so a second spelling of a valid signature (padding, unused bits)
// passes there; here a signature has one spelling.
import { createHmac } from 'node:crypto';
import { errors, jwtVerify, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { hs256Verifier, TokenExpired, TokenInvalid } from '../../src/auth/hs256.ts';

const SECRET = 'a-secret-of-at-least-thirty-two-bytes!!';
const OTHER = 'another-secret-of-at-least-thirty-two-bytes';
const opts = { issuer: 'herald', audience: 'herald' };
const verify = hs256Verifier(SECRET, opts);
const now = Math.floor(Date.now() / 1000);
const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

/** A token signed by hand: any header, any payload. */
function raw(header: unknown, payload: unknown, secret = SECRET): string {
  const signing = `${b64(header)}.${b64(payload)}`;
  return `${signing}.${createHmac('sha256', secret).update(signing).digest('base64url')}`;
}

const good = { sub: 'u1', tid: 't1', iss: 'herald', aud: 'herald', iat: now, exp: now + 600 };

type Verdict = 'valid' | 'expired' | 'invalid';

async function joseVerdict(token: string): Promise<Verdict> {
  try {
    await jwtVerify(token, new TextEncoder().encode(SECRET), { algorithms: ['HS256'], ...opts });
    return 'valid';
  } catch (err) {
    return err instanceof errors.JWTExpired ? 'expired' : 'invalid';
  }
}

function ourVerdict(token: string): Verdict {
  try {
    verify(token);
    return 'valid';
  } catch (err) {
    if (err instanceof TokenExpired) return 'expired';
    if (err instanceof TokenInvalid) return 'invalid';
    throw err;
  }
}

describe('HS256 verification', () => {
  it('accepts what jose signs and returns its claims', async () => {
    const token = await new SignJWT({ tid: 't1', tenants: ['t1'] })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject('u1')
      .setIssuer('herald')
      .setAudience('herald')
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(new TextEncoder().encode(SECRET));
    expect(verify(token)).toMatchObject({ sub: 'u1', tid: 't1', tenants: ['t1'] });
  });

  it('gives the same verdict as jose on good, forged, malformed and expired tokens', async () => {
    const stricter = new Set(['non-canonical signature', 'padded signature']);
    const valid = raw({ alg: 'HS256', typ: 'JWT' }, good);
    const [h, p, s] = valid.split('.');
    // The last base64url character of a 32-byte MAC carries 2 unused bits: flipping one
    // decodes to the same bytes, which must not make a second valid spelling.
    const last = s.at(-1) as string;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const sibling = alphabet[alphabet.indexOf(last) ^ 1];
    const cases: Record<string, string> = {
      valid,
      'audience in a list': raw({ alg: 'HS256' }, { ...good, aud: ['other', 'herald'] }),
      'other secret': raw({ alg: 'HS256' }, good, OTHER),
      'alg none': `${b64({ alg: 'none' })}.${p}.`,
      'alg HS512 header over an HS256 MAC': raw({ alg: 'HS512' }, good),
      'crit header': raw({ alg: 'HS256', crit: ['exp'], exp: 1 }, good),
      'b64 header': raw({ alg: 'HS256', b64: false, crit: ['b64'] }, good),
      'tampered payload': `${h}.${b64({ ...good, sub: 'u2' })}.${s}`,
      'non-canonical signature': `${h}.${p}.${s.slice(0, -1)}${sibling}`,
      'truncated signature': `${h}.${p}.${s.slice(0, -2)}`,
      'padded signature': `${h}.${p}.${s}=`,
      'two segments': `${h}.${p}`,
      'four segments': `${valid}.x`,
      'empty string': '',
      'payload is an array': raw({ alg: 'HS256' }, [good]),
      'payload not JSON': raw({ alg: 'HS256' }, 'not json'),
      'header not JSON': `${b64('nope')}.${p}.${s}`,
      'wrong issuer': raw({ alg: 'HS256' }, { ...good, iss: 'someone' }),
      'no issuer': raw({ alg: 'HS256' }, { ...good, iss: undefined }),
      'wrong audience': raw({ alg: 'HS256' }, { ...good, aud: 'someone' }),
      'no audience': raw({ alg: 'HS256' }, { ...good, aud: undefined }),
      expired: raw({ alg: 'HS256' }, { ...good, exp: now - 60 }),
      'expires now': raw({ alg: 'HS256' }, { ...good, exp: now }),
      'exp not a number': raw({ alg: 'HS256' }, { ...good, exp: String(now + 600) }),
      'iat not a number': raw({ alg: 'HS256' }, { ...good, iat: 'yesterday' }),
      'not yet valid': raw({ alg: 'HS256' }, { ...good, nbf: now + 600 }),
      'valid from now': raw({ alg: 'HS256' }, { ...good, nbf: now - 1 }),
      'expired and forged': raw({ alg: 'HS256' }, { ...good, exp: now - 60 }, OTHER),
    };
    const mine: Record<string, Verdict> = {};
    const theirs: Record<string, Verdict> = {};
    for (const [name, token] of Object.entries(cases)) {
      mine[name] = ourVerdict(token);
      theirs[name] = stricter.has(name) ? 'invalid' : await joseVerdict(token);
    }
    expect(mine).toEqual(theirs);
    expect(mine.valid).toBe('valid');
    expect(mine.expired).toBe('expired');
    for (const name of stricter) expect(await joseVerdict(cases[name])).toBe('valid');
    expect(mine['expired and forged']).toBe('invalid');
  });

  it('refuses non-string input without throwing anything else', () => {
    expect(() => verify(undefined as unknown as string)).toThrow(TokenInvalid);
    expect(() => verify(42 as unknown as string)).toThrow(TokenInvalid);
  });
});
