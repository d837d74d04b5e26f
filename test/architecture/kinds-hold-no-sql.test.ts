// Content kinds keep their SQL in their store half (src/store/pg/kinds/<kind>.ts): the server
// halves, the generic action path and the kinds' ports in src/domain hold no statement and
// run none (docs/architecture.md, "How to add a kind").
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const domain = fileURLToPath(new URL('../../src/domain/', import.meta.url));

/** A statement's text, or a call that runs one. */
const SQL = [
  /\bSELECT\b[\s\S]*?\bFROM\b/,
  /\bINSERT\s+INTO\b/,
  /\bUPDATE\s+\w+\s+(AS\s+\w+\s+)?SET\b/,
  /\bDELETE\s+FROM\b/,
  /\.query\s*[<(]/,
];
const sqlIn = (text: string) => SQL.filter((re) => re.test(text)).map(String);

describe('content kinds hold no SQL in the domain', () => {
  it('finds statements and query calls (the check can fail)', () => {
    expect(sqlIn("await tx.query('SELECT 1 FROM poll_closes WHERE x')")).toHaveLength(2);
    expect(sqlIn('`INSERT INTO reactions (a) VALUES ($1)`')).toHaveLength(1);
    expect(sqlIn("'DELETE FROM reactions WHERE tenant_id = $1'")).toHaveLength(1);
    expect(sqlIn('UPDATE conversations SET last_seq = 1')).toHaveLength(1);
    expect(sqlIn('// Members vote once (a new vote replaces theirs)')).toEqual([]);
  });

  it('src/domain/kinds/ (reactions, poll, the descriptors), kind-actions.ts, kind-store.ts, content-kinds.ts', async () => {
    const files = [
      ...(await readdir(join(domain, 'kinds'))).filter((f) => f.endsWith('.ts')).map((f) => `kinds/${f}`),
      'kind-actions.ts',
      'kind-store.ts',
      'content-kinds.ts',
    ];
    expect(files).toEqual(expect.arrayContaining(['kinds/reactions.ts', 'kinds/poll.ts']));
    const found: Record<string, string[]> = {};
    for (const f of files) {
      const hits = sqlIn(await readFile(join(domain, f), 'utf8'));
      if (hits.length > 0) found[f] = hits;
    }
    expect(found).toEqual({});
  });
});
