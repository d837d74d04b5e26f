// The access rule has one statement in the domain (mayRead, src/domain/access.ts) and one SQL
// form for statements that decide it row by row (mayReadSql, src/store/pg/sql.ts). This holds
// the two to the same verdict on every kind, audience and membership.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mayRead } from '../../src/domain/access.ts';
import { mayReadSql } from '../../src/store/pg/sql.ts';
import { backends, openTestStore, type TestStore } from '../support/stores.ts';

const KINDS = ['direct', 'group', 'channel', 'announcement', 'notices'] as const;
const AUDIENCES = ['members', 'tenant'] as const;

for (const backend of backends()) {
  describe(`mayRead and mayReadSql agree (${backend})`, () => {
    let store: TestStore;
    beforeAll(async () => {
      store = await openTestStore(backend);
    });
    afterAll(() => store?.close());

    it('on every kind, audience and membership', async () => {
      const cases = KINDS.flatMap((kind) =>
        AUDIENCES.flatMap((audience) => [true, false].map((member) => ({ kind, audience, member }))),
      );
      const { rows } = await store.db.query<{ i: number; may: boolean }>(
        `SELECT x.i, ${mayReadSql('c', 'm')} AS may
           FROM unnest($1::text[], $2::text[], $3::boolean[]) WITH ORDINALITY AS x(kind, audience, member, i)
           CROSS JOIN LATERAL (SELECT x.kind, x.audience) c
           LEFT JOIN LATERAL (SELECT 'u' AS user_id WHERE x.member) m ON true
          ORDER BY x.i`,
        [cases.map((c) => c.kind), cases.map((c) => c.audience), cases.map((c) => c.member)],
      );
      expect(rows.map((r) => r.may)).toEqual(cases.map((c) => mayRead(c, c.member)));
      // Both verdicts occur, so agreeing is not agreeing on one constant.
      expect(new Set(rows.map((r) => r.may))).toEqual(new Set([true, false]));
    });
  });
}
