// Input rules every entry point shares (HTTP bodies, path and query
// parameters, WebSocket frames, SSE parameters). They exist because of what
// the store can hold: PostgreSQL text and jsonb cannot contain U+0000, jsonb
// rejects unpaired UTF-16 surrogates, and seqs are bigint columns. A request
// that breaks one is VALIDATION_FAILED before anything is read or written.
// This module imports nothing so server and client can both depend on it.

/**
 * The largest seq (and seq-like cursor) any input may name: the largest integer a JSON
 * number carries exactly. The seq columns are bigint, so every such value is storable.
 */
export const MAX_SEQ = Number.MAX_SAFE_INTEGER;

/** A seq as input: a safe integer in [0, MAX_SEQ] (rejects 1.5, -1, 3e21, NaN). */
export function isSeq(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** A seq in text (query strings, SSE cursors): decimal digits only, at most MAX_SEQ; else null. */
export function parseSeq(text: string): number | null {
  if (!/^\d{1,16}$/.test(text)) return null;
  const n = Number(text);
  return n <= MAX_SEQ ? n : null;
}

/**
 * Nesting allowed in one input (a body, a frame). Herald's own shapes nest three levels;
 * free-form `data` gets the rest. Deeper JSON would overflow JSON.stringify and
 * PostgreSQL's jsonb parser long before it meant anything.
 */
export const MAX_INPUT_DEPTH = 32;

// In unicode mode a well-formed surrogate pair is one code point outside \p{Cs}: only
// unpaired surrogates match. Emoji and every other character pass.
const UNSAFE_TEXT = /[\0\p{Cs}]/u;
// A reported path must itself be printable and storable: what made a key bad is replaced.
const UNSAFE_KEY_CHARS = /[\0\p{Cs}]/gu;

/** Why a string cannot be stored, or null when it can. */
export function unsafeText(s: string): string | null {
  if (!UNSAFE_TEXT.test(s)) return null;
  return s.includes('\0') ? 'must not contain U+0000' : 'must not contain unpaired surrogates';
}

export interface InputProblem {
  /** Where, as `part/field/0/sub` (the shape of VALIDATION_FAILED details). */
  path: string;
  message: string;
}

/**
 * The first string (value or object key) anywhere in `value` that breaks the text rule,
 * or nesting deeper than `maxDepth`. Iterative: arbitrarily deep input cannot overflow
 * the stack here. Only own enumerable keys are visited, so `__proto__` and `constructor`
 * keys are checked as plain keys and nothing inherited is read.
 */
export function findInputProblem(value: unknown, root = '', maxDepth = MAX_INPUT_DEPTH): InputProblem | null {
  const stack: { v: unknown; path: string; depth: number }[] = [{ v: value, path: root, depth: 0 }];
  for (let item = stack.pop(); item; item = stack.pop()) {
    const { v, path, depth } = item;
    if (typeof v === 'string') {
      const why = unsafeText(v);
      if (why) return { path, message: why };
      continue;
    }
    if (typeof v !== 'object' || v === null) continue;
    if (depth >= maxDepth) return { path, message: `must not nest deeper than ${maxDepth} levels` };
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push({ v: v[i], path: `${path}/${i}`, depth: depth + 1 });
      continue;
    }
    for (const key of Object.keys(v)) {
      const why = unsafeText(key);
      if (why) return { path: `${path}/${key.replace(UNSAFE_KEY_CHARS, '?')}`, message: `keys ${why}` };
      stack.push({ v: (v as Record<string, unknown>)[key], path: `${path}/${key}`, depth: depth + 1 });
    }
  }
  return null;
}
