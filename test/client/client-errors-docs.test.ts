// Every client-only error code (CLIENT_ERRORS) is documented in docs/sdk.md
// and has a readable default message — the SDK's half of the one catalog
// (the server's codes are checked against docs/protocol.md in test/protocol).
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { CLIENT_ERRORS, HeraldClientError } from '../../src/client/index.ts';
import { isErrorCode } from '../../src/protocol/errors.ts';

it('names every client-only code in docs/sdk.md, none clashing with a catalog code', () => {
  const doc = readFileSync(new URL('../../docs/sdk.md', import.meta.url), 'utf8');
  for (const code of Object.keys(CLIENT_ERRORS) as (keyof typeof CLIENT_ERRORS)[]) {
    expect(doc, code).toContain(`\`${code}\``);
    expect(isErrorCode(code), code).toBe(false);
    const err = new HeraldClientError(code);
    expect(err.message, code).toBe(CLIENT_ERRORS[code]);
    expect(err.message.length, code).toBeGreaterThan(20);
  }
});
