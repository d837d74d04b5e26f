// Reactions (wire half: src/protocol/kinds/reactions.ts; table: migration 014). Any member
// reacts to any message not deleted, once per emoji. The emoji must be one emoji grapheme:
// INVALID_EMOJI otherwise (the schema only bounds its length).
import { HeraldError } from '../../protocol/index.ts';
import { reactionsWire } from '../../protocol/kinds/reactions.ts';
import { serverKind } from './server-kind.ts';

const segmenter = new Intl.Segmenter('en', { granularity: 'grapheme' });
const PICTURE = /\p{Extended_Pictographic}|\p{Regional_Indicator}|\u20E3/u;
const EMOJI_ONLY =
  /^(?:\p{Extended_Pictographic}|\p{Emoji_Component}|\p{Emoji_Modifier}|\u200D|\uFE0F|\u20E3)+$/u;

/** One grapheme made of emoji code points only (a flag, a keycap, a ZWJ family, a skin tone). */
export function isEmoji(s: string): boolean {
  const graphemes = [...segmenter.segment(s)];
  return graphemes.length === 1 && EMOJI_ONLY.test(s) && PICTURE.test(s);
}

type Count = { emoji: string; count: number; me?: boolean };

export const reactionsKind = serverKind(reactionsWire, {
  none: [],
  async summaries(sql, tenant, ids, viewer) {
    const out = new Map<string, Count[]>();
    if (ids.length === 0) return out;
    const { rows } = await sql.query<{ message_id: string; emoji: string; count: number; me: boolean }>(
      `SELECT message_id, emoji, count(*)::int AS count, bool_or(user_id = $3) AS me
         FROM reactions WHERE tenant_id = $1 AND message_id = ANY($2::text[])
        GROUP BY message_id, emoji ORDER BY message_id, min(created_at), emoji`,
      [tenant, ids, viewer],
    );
    for (const r of rows) {
      const list = out.get(r.message_id) ?? [];
      list.push(
        viewer === null ? { emoji: r.emoji, count: r.count } : { emoji: r.emoji, count: r.count, me: r.me },
      );
      out.set(r.message_id, list);
    }
    return out;
  },
  actions: {
    async react({ ctx, user, message, args }) {
      if (!isEmoji(args.emoji)) throw new HeraldError('INVALID_EMOJI');
      const { rows } = args.remove
        ? await ctx.tx.query(
            'DELETE FROM reactions WHERE tenant_id = $1 AND message_id = $2 AND user_id = $3 AND emoji = $4 RETURNING 1',
            [ctx.tenant, message.id, user, args.emoji],
          )
        : await ctx.tx.query(
            `INSERT INTO reactions (tenant_id, message_id, user_id, emoji) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING RETURNING 1`,
            [ctx.tenant, message.id, user, args.emoji],
          );
      if (rows.length === 0) return null;
      return args.remove ? 'reaction.removed' : 'reaction.added';
    },
  },
});
