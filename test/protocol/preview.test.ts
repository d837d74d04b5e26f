// A preview is cut the way the send's SQL cuts it (`left(body, 140)`: code points), so an
// edit's or a large channel's hint preview equals the send's and never splits a surrogate pair.
import { describe, expect, it } from 'vitest';
import { PREVIEW_CHARS, previewBody } from '../../src/protocol/index.ts';
import { backends, openTestStore } from '../support/stores.ts';

const bodies = [
  '',
  'short',
  'a'.repeat(141),
  '😀'.repeat(141),
  `${'x'.repeat(139)}😀😀`,
  `é${'👩‍👩‍👧'.repeat(60)}`,
];

describe('previewBody', () => {
  it('keeps at most 140 code points and never a lone surrogate', () => {
    for (const b of bodies) {
      const p = previewBody(b);
      expect([...p].length).toBeLessThanOrEqual(PREVIEW_CHARS);
      expect(b.startsWith(p)).toBe(true);
      expect(p).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/);
    }
    expect(previewBody('😀'.repeat(141))).toBe('😀'.repeat(140));
  });

  for (const backend of backends()) {
    it(`equals left(body, 140) on ${backend}`, async () => {
      const store = await openTestStore(backend);
      try {
        for (const b of bodies) {
          const { rows } = await store.db.query<{ p: string }>('SELECT left($1::text, 140) AS p', [b]);
          expect(previewBody(b)).toBe(rows[0].p);
        }
      } finally {
        await store.close();
      }
    });
  }
});
