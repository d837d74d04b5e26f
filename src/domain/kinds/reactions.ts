// Reactions (wire half: src/protocol/kinds/reactions.ts; table: migration 014; store:
// src/store/pg/kinds/reactions.ts). Any member reacts to any message not deleted, once per
// emoji. The emoji must be one emoji grapheme: INVALID_EMOJI otherwise (the schema only bounds
// its length).
import { HeraldError } from '../../protocol/index.ts';
import { reactionsWire } from '../../protocol/kinds/reactions.ts';
import { serverKind } from './server-kind.ts';

/** One emoji's reactions on one message. */
export interface ReactionCountRow {
  message_id: string;
  emoji: string;
  count: number;
  /** Whether the viewer is among them (null without a viewer). */
  me: boolean | null;
}

/** What reactions store: one row per (message, user, emoji). */
export interface ReactionStore {
  /**
   * The counts per emoji of these messages, one statement: by message, then in the order the
   * emojis were first used (ties by emoji).
   */
  counts(tenant: string, ids: readonly string[], viewer: string | null): Promise<ReactionCountRow[]>;
  /** Adds the reaction; false when it was there already. */
  add(tenant: string, messageId: string, user: string, emoji: string): Promise<boolean>;
  /** Removes the reaction; false when there was none. */
  remove(tenant: string, messageId: string, user: string, emoji: string): Promise<boolean>;
}

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

export const reactionsKind = serverKind<ReactionStore>()(reactionsWire, {
  none: [],
  async summaries(store, tenant, ids, viewer) {
    const out = new Map<string, Count[]>();
    if (ids.length === 0) return out;
    for (const r of await store.counts(tenant, ids, viewer)) {
      const list = out.get(r.message_id) ?? [];
      list.push(
        viewer === null
          ? { emoji: r.emoji, count: r.count }
          : { emoji: r.emoji, count: r.count, me: r.me === true },
      );
      out.set(r.message_id, list);
    }
    return out;
  },
  actions: {
    async react({ store, tenant, user, message, args }) {
      if (!isEmoji(args.emoji)) throw new HeraldError('INVALID_EMOJI');
      const changed = args.remove
        ? await store.remove(tenant, message.id, user, args.emoji)
        : await store.add(tenant, message.id, user, args.emoji);
      if (!changed) return null;
      return args.remove ? 'reaction.removed' : 'reaction.added';
    },
  },
});
