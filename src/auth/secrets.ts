// Opaque secrets (API keys, refresh tokens) and their stored form. Only the
// sha256 hash is ever stored: a database leak yields no usable credential.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** A random credential with a readable prefix, e.g. `hk_…` (API key) or `hr_…` (refresh token). */
export function newSecret(prefix: string, bytes = 32): string {
  return `${prefix}${randomBytes(bytes).toString('base64url')}`;
}

export function sha256(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

/** Constant-time comparison of two strings (operator token checks). */
export function sameSecret(a: string, b: string): boolean {
  const x = createHash('sha256').update(a).digest();
  const y = createHash('sha256').update(b).digest();
  return timingSafeEqual(x, y);
}

/** The Bearer credential of an Authorization header, or null. */
export function bearer(header: string | undefined): string | null {
  if (!header) return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m ? m[1] : null;
}
