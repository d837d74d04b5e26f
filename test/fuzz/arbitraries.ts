// Hostile input for the fuzz suites: strings with U+0000 and unpaired
// surrogates, numbers outside every column type, deep nesting, wrong types and
// prototype-pollution keys. Values are built as JSON *text* where it matters:
// an object literal with a `__proto__` key would set a prototype, not a key.
import fc from 'fast-check';
import type { Sql } from '../../src/domain/ports.ts';
import { ERRORS, type ErrorCode, isErrorCode } from '../../src/protocol/index.ts';

/** Runs per property: FUZZ_RUNS scales every suite (e.g. FUZZ_RUNS=10 for a long soak). */
export function runs(base: number): number {
  const scale = Number(process.env.FUZZ_RUNS ?? 1);
  return Math.max(1, Math.round(base * (Number.isFinite(scale) && scale > 0 ? scale : 1)));
}

const SPECIAL = [
  '',
  '\u0000',
  'a\u0000b',
  '\ud800',
  '\udfff',
  'x\udc00y',
  '\ud83d', // the first half of an emoji alone
  '😀',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  ' ',
  '\n',
  'a b',
  '%00',
  '%E0%A4%A',
  "'; DROP TABLE messages; --",
  'javascript:alert(1)',
  'x'.repeat(129),
  'é'.repeat(300),
];

/** Strings a client could send: plain, any code unit (lone surrogates included), and the specials. */
export const nastyString: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...SPECIAL),
  fc.string({ maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.string({ unit: fc.constantFrom('\u0000', '\ud800', '\udc00', 'a', '😀', ':', ',', '%'), maxLength: 12 }),
);

/** Numbers past every column type and not integers: JSON can carry all of these. */
export const nastyNumber: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(
    -1,
    -0,
    0.5,
    1.5,
    2 ** 31,
    2 ** 31 - 1,
    3e9,
    2 ** 53,
    2 ** 53 + 2,
    1e21,
    -1e21,
    Number.MAX_VALUE,
    Number.MIN_VALUE,
  ),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);

/** The same as text (query strings, SSE cursors, Last-Event-ID). */
export const nastyNumberText: fc.Arbitrary<string> = fc.oneof(
  nastyNumber.map(String),
  fc.constantFrom(
    'NaN',
    'Infinity',
    '-Infinity',
    '0x10',
    ' 1',
    '1 ',
    '1e3',
    '',
    '00',
    '9007199254740993',
    '٣',
  ),
);

/** Arbitrary JSON text: nested values of every type, with hostile strings, keys and numbers. */
export const jsonText: fc.Arbitrary<string> = fc.letrec<{ value: string }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    nastyString.map((s) => JSON.stringify(s)),
    nastyNumber.map((n) => JSON.stringify(n)),
    fc.constantFrom('true', 'false', 'null'),
    fc.array(tie('value'), { maxLength: 4 }).map((xs) => `[${xs.join(',')}]`),
    fc
      .array(fc.tuple(fc.oneof(nastyString, fc.constantFrom('__proto__', 'constructor')), tie('value')), {
        maxLength: 4,
      })
      .map((kv) => `{${kv.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`),
  ),
})).value;

/** Nesting deeper than any input allows (up to thousands of levels). */
export const deepJsonText: fc.Arbitrary<string> = fc
  .tuple(fc.integer({ min: 33, max: 5000 }), fc.boolean())
  .map(([depth, arrays]) =>
    arrays ? `${'['.repeat(depth)}1${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`,
  );

/** Any value for a field: hostile JSON, or deep nesting. */
export const fieldText: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: jsonText },
  { weight: 1, arbitrary: deepJsonText },
);

/** Whether a string holds something the text rule rejects. */
export const hasUnsafeText = (s: string): boolean => /[\0\p{Cs}]/u.test(s);

/** A percent-encoded path segment; lone surrogates (which encodeURIComponent refuses) become bad bytes. */
export function pathSegment(s: string): string {
  try {
    return encodeURIComponent(s);
  } catch {
    return s.replace(/[^\w-]/gu, (c) => {
      try {
        return encodeURIComponent(c);
      } catch {
        return '%ED%A0%80'; // a surrogate as (invalid) UTF-8: the router must refuse it
      }
    });
  }
}

/** Segments as raw text: also malformed percent-encodings the router must refuse. */
export const nastySegment: fc.Arbitrary<string> = fc.oneof(
  { weight: 5, arbitrary: nastyString.map(pathSegment) },
  {
    weight: 1,
    arbitrary: fc.constantFrom('%E0%A4%A', '%', '%zz', '%00', '%ED%A0%80', '%C0%80', 'x'.repeat(1100)),
  },
);

/** `{"error":{"code","message"}}` from the catalog with the catalog's status — never INTERNAL. */
export function catalogError(status: number, body: unknown): string | null {
  const err = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  if (!err || !isErrorCode(err.code) || typeof err.message !== 'string')
    return `not a catalog error: ${status} ${JSON.stringify(body)?.slice(0, 300)}`;
  const code: ErrorCode = err.code;
  if (code === 'INTERNAL' || status >= 500) return `server error ${status} ${code}: ${err.message}`;
  if (ERRORS[code].status !== status)
    return `${code} with status ${status}, catalog says ${ERRORS[code].status}`;
  return null;
}

const TABLES = [
  'tenants',
  'api_keys',
  'users',
  'conversations',
  'members',
  'messages',
  'events',
  'inbox_entries',
  'inbox_tombstones',
  'notices',
  'notice_entries',
  'outbox',
  'refresh_tokens',
  'tenant_grants',
];

/**
 * One statement that changes whenever anything is written: row counts of every table,
 * the sum of seqs, and the versions (bumped on every update) of inbox and notice entries.
 */
export async function fingerprint(db: Sql): Promise<string> {
  const counts = TABLES.map((t) => `(SELECT count(*) FROM ${t}) AS ${t}`).join(', ');
  const { rows } = await db.query(
    `SELECT ${counts},
            (SELECT COALESCE(sum(last_seq), 0) FROM conversations) AS seqs,
            (SELECT COALESCE(sum(version), 0) FROM inbox_entries) AS inbox_versions,
            (SELECT COALESCE(sum(version), 0) FROM notice_entries) AS notice_versions,
            (SELECT count(*) FROM messages WHERE edited_at IS NOT NULL OR deleted_at IS NOT NULL) AS changed,
            (SELECT count(*) FROM refresh_tokens WHERE used_at IS NOT NULL OR revoked_at IS NOT NULL) AS spent`,
  );
  return JSON.stringify(rows[0]);
}
