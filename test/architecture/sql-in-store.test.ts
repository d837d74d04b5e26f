// The store is the adapter (issue 11): SQL lives in src/store. The model (src/domain — the
// content kinds' server halves included, whose SQL is their store half, src/store/pg/kinds/),
// the use cases and the gateway hold no statement and run none; they speak to ports
// (docs/architecture.md, "The store as an adapter", "How to add a kind").
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const src = fileURLToPath(new URL('../../src/', import.meta.url));

/** A statement's text, or a call that runs one. */
const SQL = [
  /\bSELECT\b[\s\S]*?\bFROM\b/,
  /\bINSERT\s+INTO\b/,
  /\bUPDATE\s+\w+\s+(AS\s+\w+\s+)?SET\b/,
  /\bDELETE\s+FROM\b/,
  /\.query\s*[<(]/,
  /\bjsonb_build_object\b/,
];
const sqlIn = (text: string) => SQL.filter((re) => re.test(text)).map(String);

describe('SQL lives in src/store', () => {
  it('finds statements and query calls (the check can fail)', () => {
    expect(sqlIn("await tx.query('SELECT 1 FROM poll_closes WHERE x')")).toHaveLength(2);
    expect(sqlIn('`INSERT INTO reactions (a) VALUES ($1)`')).toHaveLength(1);
    expect(sqlIn("'DELETE FROM reactions WHERE tenant_id = $1'")).toHaveLength(1);
    expect(sqlIn('UPDATE conversations SET last_seq = 1')).toHaveLength(1);
    expect(sqlIn('// Members vote once (a new vote replaces theirs)')).toEqual([]);
  });

  it('src/domain, src/usecases and src/gateway', async () => {
    const files = (
      await Promise.all(
        ['domain', 'usecases', 'gateway'].map(async (d) =>
          (
            await readdir(join(src, d), { recursive: true })
          )
            .filter((f) => f.endsWith('.ts'))
            .map((f) => join(src, d, f)),
        ),
      )
    ).flat();
    expect(files.map((f) => relative(src, f))).toEqual(
      expect.arrayContaining(['domain/kinds/reactions.ts', 'domain/kinds/poll.ts', 'domain/compose.ts']),
    );
    const found: Record<string, string[]> = {};
    for (const f of files) {
      const hits = sqlIn(await readFile(f, 'utf8'));
      if (hits.length > 0) found[relative(src, f)] = hits;
    }
    expect(found).toEqual({});
  });
});
