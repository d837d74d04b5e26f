// Polls (wire half: src/protocol/kinds/poll.ts; tables: migration 015). A poll goes to a
// direct, group or channel conversation; its options must differ. Members vote once (a new
// vote replaces theirs; the same vote again changes nothing) until the author closes it;
// voting on a closed poll is CONFLICT; closing twice changes nothing.
import { HeraldError } from '../../protocol/index.ts';
import { pollWire } from '../../protocol/kinds/poll.ts';
import { serverKind } from './server-kind.ts';

type Definition = { question: string; options: string[] };
type State = {
  question: string;
  options: { text: string; votes: number }[];
  voters: number;
  closed: boolean;
  mine?: number | null;
};

const definitionOf = (data: Record<string, unknown> | null): Definition | null => {
  const p = data?.poll as Definition | undefined;
  return p && typeof p.question === 'string' && Array.isArray(p.options) ? p : null;
};

export const pollKind = serverKind(pollWire, {
  content: {
    conversationKinds: ['direct', 'group', 'channel'],
    bodyOf: (poll) => `📊 ${poll.question}`,
    check(poll) {
      const seen = new Set(poll.options.map((o) => o.trim().toLowerCase()));
      if (seen.size !== poll.options.length)
        throw new HeraldError('VALIDATION_FAILED', 'Poll options must differ.');
    },
  },
  appliesTo: (m) => definitionOf(m.data) !== null,
  none: { question: '', options: [], voters: 0, closed: false },
  async summaries(sql, tenant, ids, viewer) {
    const out = new Map<string, State>();
    if (ids.length === 0) return out;
    const { rows } = await sql.query<{
      message_id: string;
      data: Record<string, unknown>;
      closed: boolean;
      option: number | null;
      votes: number;
      mine: boolean;
    }>(
      `SELECT m.id AS message_id, m.data, pc.message_id IS NOT NULL AS closed,
              v.option, count(v.user_id)::int AS votes, COALESCE(bool_or(v.user_id = $3), false) AS mine
         FROM messages m
         LEFT JOIN poll_closes pc ON pc.tenant_id = m.tenant_id AND pc.message_id = m.id
         LEFT JOIN poll_votes v ON v.tenant_id = m.tenant_id AND v.message_id = m.id
        WHERE m.tenant_id = $1 AND m.id = ANY($2::text[]) AND m.data->'poll' IS NOT NULL
        GROUP BY m.id, m.data, pc.message_id, v.option`,
      [tenant, ids, viewer],
    );
    for (const r of rows) {
      const def = definitionOf(r.data);
      if (!def) continue;
      let s = out.get(r.message_id);
      if (!s) {
        s = {
          question: def.question,
          options: def.options.map((text) => ({ text, votes: 0 })),
          voters: 0,
          closed: r.closed,
        };
        if (viewer !== null) s.mine = null;
        out.set(r.message_id, s);
      }
      if (r.option === null) continue;
      if (s.options[r.option]) s.options[r.option].votes = r.votes;
      s.voters += r.votes;
      if (r.mine && viewer !== null) s.mine = r.option;
    }
    return out;
  },
  actions: {
    async vote({ ctx, user, message, args }) {
      const def = definitionOf(message.data) as Definition;
      if (args.option >= def.options.length) {
        throw new HeraldError('VALIDATION_FAILED', `option must be below ${def.options.length}.`);
      }
      // The conversation row is locked: a close cannot slip in between this check and the vote.
      const closed = await ctx.tx.query(
        'SELECT 1 FROM poll_closes WHERE tenant_id = $1 AND message_id = $2',
        [ctx.tenant, message.id],
      );
      if (closed.rows.length > 0) throw new HeraldError('CONFLICT', 'The poll is closed.');
      const { rows } = await ctx.tx.query(
        `INSERT INTO poll_votes AS v (tenant_id, message_id, user_id, option) VALUES ($1, $2, $3, $4)
         ON CONFLICT (tenant_id, message_id, user_id) DO UPDATE SET option = EXCLUDED.option, voted_at = now()
          WHERE v.option <> EXCLUDED.option
         RETURNING 1`,
        [ctx.tenant, message.id, user, args.option],
      );
      return rows.length > 0 ? 'poll.voted' : null;
    },
    async close({ ctx, user, message }) {
      if (message.sender.type !== 'user' || message.sender.user_id !== user)
        throw new HeraldError('NOT_AUTHOR');
      const { rows } = await ctx.tx.query(
        `INSERT INTO poll_closes (tenant_id, message_id, closed_by) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING RETURNING 1`,
        [ctx.tenant, message.id, user],
      );
      return rows.length > 0 ? 'poll.closed' : null;
    },
  },
});
