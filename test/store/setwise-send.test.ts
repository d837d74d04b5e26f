// herald_send writes runs of a batch set-wise (migration 017). Whatever the batch — accepted,
// refused and replayed sends, to the same and to different conversations, with the sends it
// hands to herald_send_one in between — its outcomes and every row it writes are those of
// herald_send_one called send by send, in order. Each path runs in a transaction that is
// rolled back, on the same world and with the same specs (same message ids), so the two can be
// compared row for row: sequences are not rolled back, so outbox ids compare by order and
// inbox versions by their distance from the sequence's value before the run.
import { describe, expect, it } from 'vitest';
import { commandFor, execute } from '../../src/domain/commands.ts';
import { type SendRequest, type SendSpec, specOf } from '../../src/domain/compose.ts';
import { createConversation } from '../../src/domain/conversations.ts';
import { defaultLimits } from '../../src/domain/limits.ts';
import type { Sql } from '../../src/domain/ports.ts';
import { depsOf, useStore } from '../domain/support.ts';
import { seedTenant } from '../support/fixtures.ts';
import { type Backend, backends } from '../support/stores.ts';

type Json = unknown;
// biome-ignore lint/suspicious/noExplicitAny: rows are inspected loosely.
type Loose = { [k: string]: any };

class Rollback extends Error {
  constructor(readonly value: unknown) {
    super('rollback');
  }
}

describe.each(backends())('set-wise herald_send (%s)', (backend: Backend) => {
  const s = useStore(backend);

  async function world() {
    const deps = depsOf(s.db);
    const users = ['u0', 'u1', 'u2', 'u3', 'u4', 'u5'];
    const tenant = await seedTenant(s.db, [...users, 'outsider']);
    const by = (u: string) => ({ type: 'user' as const, user_id: u });
    const direct = await execute(deps, tenant, {
      kind: 'DirectMessage',
      sender: 'u0',
      to: 'u1',
      input: { body: 'hi' },
    });
    const d = direct.message.conversation_id;
    const g1 = (
      await createConversation(deps, tenant, by('u0'), {
        kind: 'group',
        title: 'g1',
        members: ['u1', 'u2', 'u3'],
      })
    ).id;
    const g2 = (
      await createConversation(deps, tenant, by('u0'), { kind: 'group', title: 'g2', members: ['u4', 'u5'] })
    ).id;
    const ch = (
      await createConversation(deps, tenant, by('u0'), {
        kind: 'channel',
        title: 'c',
        members: ['u1', 'u2', 'u3'],
      })
    ).id;
    const big = (
      await createConversation(deps, tenant, by('u0'), { kind: 'channel', title: 'big', members: users })
    ).id;
    const ann = (
      await createConversation(deps, tenant, by('u0'), {
        kind: 'announcement',
        title: 'a',
        members: ['u1', 'u2'],
      })
    ).id;
    const send = (conversation: string, sender: string, input: SendRequest['input']) =>
      execute(deps, tenant, commandFor('group', sender, conversation, input));
    const prior = await send(g1, 'u1', { body: 'prior', client_id: 'prior' });
    const root = await send(g1, 'u2', { body: 'root' });
    // Reads by viewers and messages both raise webhook deliveries: their rows are compared too.
    await s.db.query(
      `INSERT INTO webhook_endpoints (tenant_id, id, url, secret, events)
       VALUES ($1, 'we_1', 'http://127.0.0.1:9/', 'whsec_x', ARRAY['message.created', 'conversation.read'])`,
      [tenant],
    );
    return { tenant, d, g1, g2, ch, big, ann, prior: prior.message.id, root: root.message.id };
  }

  function batch(w: Awaited<ReturnType<typeof world>>): SendSpec[] {
    // Channels of more than 4 members are large here: `big` (6) is, `ch` (4) is not.
    const limits = { ...defaultLimits, largeChannelThreshold: 4 };
    const spec = (
      conversation: string,
      sender: string | null,
      kind: SendRequest['kind'],
      input: SendRequest['input'],
      viewers: string[] = [],
      extra: Partial<SendRequest> = {},
    ) =>
      specOf(w.tenant, { conversation, sender, kind, input, ...extra }, { limits, viewers, traceId: 'tr' });
    const first = spec(w.g1, 'u1', 'group', { body: 'a1', client_id: 'k1', mentions: ['u2', 'u3'] }, [
      'u3',
      'outsider',
    ]);
    return [
      first,
      spec(w.g1, 'u2', 'group', { body: 'a2 replies to a1', reply_to: first.id }),
      spec(w.g2, 'u4', 'group', { body: 'b1', client_id: 'k1' }),
      spec(w.g1, 'u1', 'group', { body: 'prior', client_id: 'prior' }),
      spec(w.g1, 'u1', 'group', { body: 'not prior', client_id: 'prior' }),
      spec(w.g2, 'outsider', 'group', { body: 'not a member' }),
      spec('nope', 'u0', 'group', { body: 'nowhere' }),
      spec(w.d, 'u0', 'group', { body: 'wrong kind' }),
      spec(w.g2, 'u4', 'group', { body: 'bad mention', mentions: ['u1', 'u2'] }),
      spec(w.g2, 'u5', 'group', { body: 'bad reply', reply_to: 'nope' }),
      spec(w.d, 'u0', 'direct', { body: 'd1' }, ['u1']),
      spec(w.big, 'u0', 'channel', { body: 'big1', mentions: ['u5'] }, ['u1', 'outsider', 'u0']),
      spec(w.ch, 'u2', 'channel', { body: 'c1', client_id: 'c1' }, ['u0']),
      spec(w.g1, 'u3', 'group', { body: 'in the thread', thread_root: w.root, mentions: ['u1'] }),
      spec(w.g1, 'u1', 'group', { body: 'a1', client_id: 'k1', mentions: ['u3', 'u2'] }),
      spec(w.g2, null, 'system', { body: 'renamed', data: { event: 'renamed', title: 'g2b' } }, [], {
        subjects: ['u4'],
      }),
      spec(w.g2, 'u5', 'group', { body: 'b2', mentions: ['u4'] }),
      spec(w.big, 'u1', 'channel', { body: 'big2', mentions: ['outsider'] }),
      spec(w.big, 'u2', 'channel', { body: 'big3' }),
      spec(w.ann, 'u0', 'announcement', { body: 'hear ye' }),
      spec(w.ann, 'u1', 'announcement', { body: 'not an admin' }),
      spec(w.d, 'u1', 'direct', { body: 'x', client_id: 'kx' }),
      spec(w.ch, 'u1', 'channel', { body: 'y', client_id: 'kx' }),
      spec(w.ch, 'u3', 'channel', { body: 'c2 replies to prior', reply_to: w.prior }),
      spec(w.g1, 'u3', 'group', { body: 'a3', reply_to: w.prior }, ['u1']),
    ];
  }

  const ts = /^\d{4}-\d\d-\d\d[T ]\d\d:\d\d/;
  function normalize(v: Json, base: number): Json {
    if (typeof v === 'string') return ts.test(v) ? '<ts>' : v;
    if (Array.isArray(v)) return v.map((x) => normalize(x, base));
    if (v !== null && typeof v === 'object') {
      const out: Record<string, Json> = {};
      for (const [k, x] of Object.entries(v)) {
        if (k === 'xid' || k === 'event_id') continue;
        out[k] = k === 'version' && Number(x) > base ? `v+${Number(x) - base}` : normalize(x, base);
      }
      return out;
    }
    return v;
  }

  /** Runs `path` in a transaction, returns its outcomes and the tenant's rows, rolls back. */
  async function run(tenant: string, path: (tx: Sql) => Promise<Json[]>) {
    try {
      await s.db.transaction(async (tx) => {
        const head = async (sql: string) => Number((await tx.query<{ n: string }>(sql)).rows[0].n);
        const outbox0 = await head('SELECT COALESCE(max(id), 0) AS n FROM outbox');
        const hooks0 = await head('SELECT COALESCE(max(id), 0) AS n FROM webhook_deliveries');
        const base = await head('SELECT last_value AS n FROM inbox_version');
        const outcomes = await path(tx);
        const rows: Record<string, Json[]> = {};
        const tables: [string, string, string][] = [
          ['conversations', 'id', ''],
          ['messages', 'conversation_id, seq', ''],
          ['events', 'conversation_id, seq', ''],
          ['inbox_entries', 'user_id, conversation_id', ''],
          ['thread_entries', 'user_id, root_id', ''],
          ['audit_log', 'id', " - 'id'"],
          // The relay keeps each topic's order (its partition's); topics interleave as they may.
          ['outbox', 'topic, id', ` - 'id' AND id > ${outbox0}`],
          // A run's triggers fire at the end of its statement, not send by send: deliveries keep
          // their order within each stream (what the dispatcher keeps), not across streams.
          ['webhook_deliveries', 'stream, id', ` - 'id' AND id > ${hooks0}`],
        ];
        for (const [t, order, extra] of tables) {
          const [drop, cond] = extra.includes('AND') ? extra.split(' AND ') : [extra, ''];
          const { rows: r } = await tx.query<{ j: Json }>(
            `SELECT to_jsonb(t)${drop} AS j FROM ${t} t WHERE tenant_id = $1 ${cond ? `AND ${cond}` : ''} ORDER BY ${order}`,
            [tenant],
          );
          rows[t] = r.map((x) => normalize(x.j, base));
        }
        // A send's inbox entries draw their versions in the order of its recipient list, which
        // is the planner's: what a client relies on is each user's versions in order.
        const userOf = (topic: string) => topic.slice(topic.lastIndexOf(':u:') + 3);
        const versioned: [string, Loose][] = [
          ...(rows.inbox_entries as Loose[]).map((r): [string, Loose] => [r.user_id, r]),
          ...(rows.thread_entries as Loose[]).map((r): [string, Loose] => [r.user_id, r]),
          ...(rows.outbox as Loose[])
            .filter((r) => r.payload.entry?.version !== undefined)
            .map((r): [string, Loose] => [userOf(r.topic), r.payload.entry]),
        ];
        const drawn = new Map<string, string[]>();
        for (const [u, r] of versioned)
          if (typeof r.version === 'string') drawn.set(u, [...(drawn.get(u) ?? []), r.version]);
        const rank = (v: string) => Number(v.slice(2));
        for (const [u, r] of versioned) {
          if (typeof r.version !== 'string') continue;
          const mine = [...new Set(drawn.get(u))].sort((x, y) => rank(x) - rank(y));
          r.version = `${u}#${mine.indexOf(r.version)}`;
        }
        throw new Rollback({ outcomes: normalize(outcomes, base), rows });
      });
    } catch (err) {
      if (err instanceof Rollback) return err.value as { outcomes: Json[]; rows: Record<string, Json[]> };
      throw err;
    }
    throw new Error('not rolled back');
  }

  const oneByOne = (specs: SendSpec[]) => async (tx: Sql) => {
    const out: Json[] = [];
    for (const spec of specs) {
      const { rows } = await tx.query<{ r: Json }>('SELECT herald_send_one($1::jsonb) AS r', [
        JSON.stringify(spec),
      ]);
      out.push(rows[0].r);
    }
    return out;
  };
  const inBatches = (specs: SendSpec[], size: number) => async (tx: Sql) => {
    const out: Json[] = [];
    for (let i = 0; i < specs.length; i += size) {
      const { rows } = await tx.query<{ r: Json }>('SELECT r FROM herald_send($1::jsonb) AS r', [
        JSON.stringify(specs.slice(i, i + size)),
      ]);
      out.push(...rows.map((x) => x.r));
    }
    return out;
  };

  it('a mixed batch gets the outcomes and rows of herald_send_one, send by send', async () => {
    const w = await world();
    const specs = batch(w);
    const reference = await run(w.tenant, oneByOne(specs));
    const code = (o: Json) => {
      const r = o as { error?: string; replayed?: boolean; message?: { seq: number } };
      return r.error ?? (r.replayed ? 'replayed' : r.message?.seq);
    };
    // The reference itself, so that the comparison below cannot pass on two empty runs.
    expect(reference.outcomes.map(code)).toEqual([
      4,
      5,
      2,
      'replayed',
      'IDEMPOTENCY_KEY_REUSED',
      'NOT_A_MEMBER',
      'CONVERSATION_NOT_FOUND',
      'INVALID_KIND',
      'INVALID_MENTION',
      'INVALID_REPLY',
      2,
      2,
      2,
      6,
      'replayed',
      3,
      4,
      'INVALID_MENTION',
      3,
      2,
      'NOT_ADMIN',
      3,
      'IDEMPOTENCY_KEY_REUSED',
      'INVALID_REPLY',
      7,
    ]);
    expect(reference.rows.outbox.length).toBeGreaterThan(40);
    expect(reference.rows.webhook_deliveries.length).toBeGreaterThan(10);
    for (const size of [specs.length, 4, 1]) {
      const got = await run(w.tenant, inBatches(specs, size));
      expect(got.outcomes, `batches of ${size}`).toEqual(reference.outcomes);
      for (const t of Object.keys(reference.rows))
        expect(got.rows[t], `${t}, batches of ${size}`).toEqual(reference.rows[t]);
    }
  });

  // A send that waited on a concurrent first send of its client_id (another transaction,
  // holding the conversation) checks against what it saw before the wait; its insert then
  // meets the committed row: it replays it and takes no seq, and the rest of its run commits.
  it.runIf(backend === 'postgres')(
    'a send that waited on a concurrent first send of its client_id replays it',
    async () => {
      const w = await world();
      const spec = (conversation: string, sender: string, input: SendRequest['input']) =>
        specOf(
          w.tenant,
          { conversation, sender, kind: 'group', input },
          { limits: defaultLimits, viewers: [] },
        );
      const send = async (tx: Sql, specs: SendSpec[]) =>
        (
          await tx.query<{ r: Loose }>('SELECT r FROM herald_send($1::jsonb) AS r', [JSON.stringify(specs)])
        ).rows.map((x) => x.r);
      let release = () => {};
      const held = new Promise<void>((r) => {
        release = r;
      });
      let sent = () => {};
      const first = new Promise<void>((r) => {
        sent = r;
      });
      const t1 = s.db.transaction(async (tx) => {
        const out = await send(tx, [spec(w.g1, 'u1', { body: 'once', client_id: 'race' })]);
        sent();
        await held;
        return out;
      });
      await first;
      const t2 = s.db.transaction((tx) =>
        send(tx, [
          spec(w.g1, 'u1', { body: 'once', client_id: 'race' }),
          spec(w.g2, 'u4', { body: 'other' }),
        ]),
      );
      await new Promise((r) => setTimeout(r, 300)); // t2 now waits on g1's row lock
      release();
      const [r1, r2] = await Promise.all([t1, t2]);
      expect(r1[0].message.seq).toBe(4);
      expect(r2[0]).toEqual({ replayed: true, message: r1[0].message });
      expect(r2[1].message.seq).toBe(2);
      const { rows } = await s.db.query<{ last_seq: number; n: number }>(
        `SELECT c.last_seq, (SELECT count(*)::int FROM events e WHERE e.tenant_id = c.tenant_id AND e.conversation_id = c.id) AS n
         FROM conversations c WHERE c.tenant_id = $1 AND c.id = $2`,
        [w.tenant, w.g1],
      );
      expect(rows[0]).toEqual({ last_seq: 4, n: 4 });
    },
  );

  it('the same batch sorted as the batcher sorts it (by conversation) matches too', async () => {
    const w = await world();
    const specs = batch(w).sort((a, b) =>
      a.conversation < b.conversation ? -1 : a.conversation > b.conversation ? 1 : 0,
    );
    const reference = await run(w.tenant, oneByOne(specs));
    const got = await run(w.tenant, inBatches(specs, specs.length));
    expect(got).toEqual(reference);
  });
});
