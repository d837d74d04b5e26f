// The error catalog and the close codes are documented where clients look:
// a code added to src/protocol without its row in docs/protocol.md fails here.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CLOSE, ERRORS } from '../../src/protocol/index.ts';

const doc = readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8');

describe('docs/protocol.md', () => {
  it('has a catalog row with the right status for every error code', () => {
    const missing = Object.entries(ERRORS)
      .filter(([code, e]) => !new RegExp(`^\\| \`${code}\` \\| ${e.status} \\|`, 'm').test(doc))
      .map(([code]) => code);
    expect(missing).toEqual([]);
  });

  it('has a close-code row for every close code', () => {
    const missing = Object.entries(CLOSE)
      .filter(([name, code]) => !new RegExp(`^\\| \`${code}\` \\| \`${name}\``, 'm').test(doc))
      .map(([name]) => name);
    expect(missing).toEqual([]);
  });
});
