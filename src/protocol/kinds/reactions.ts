// Reactions: an emoji on a message, one per (user, message, emoji). Adding one twice (or
// removing one that is not there) changes nothing and records no event. The summary is the
// message's counts per emoji, in the order each emoji was first used; `me` (whether the
// viewer reacted) is in history only: an event is one frame for every subscriber.
// Named builders, not `Type`: the SDK bundles this file, and `Type` pulls in all of TypeBox.
import {
  Integer,
  Optional,
  Array as TArray,
  Boolean as TBoolean,
  Object as TObject,
  String as TString,
} from 'typebox';
import { type KindEventBase, wireKind } from './define.ts';

/** One grapheme, checked to be an emoji by the server (INVALID_EMOJI). */
export const EmojiSchema = TString({ minLength: 1, maxLength: 32 });

export const ReactionCountSchema = TObject(
  { emoji: TString(), count: Integer({ minimum: 1 }), me: Optional(TBoolean()) },
  { additionalProperties: false },
);
type ReactionCount = { emoji: string; count: number; me?: boolean };

export const reactionsWire = wireKind({
  name: 'reactions',
  summary: { field: 'reactions', schema: TArray(ReactionCountSchema) },
  actions: {
    react: {
      args: TObject({ emoji: EmojiSchema, remove: Optional(TBoolean()) }, { additionalProperties: false }),
      frame: 'react',
      http: [
        {
          method: 'POST',
          path: 'reactions',
          operationId: 'addReaction',
          summary: 'React with an emoji (once per emoji)',
        },
        {
          method: 'DELETE',
          path: 'reactions/:emoji',
          fixed: { remove: true },
          operationId: 'removeReaction',
          summary: 'Take your reaction back',
        },
      ],
    },
  },
  events: ['reaction.added', 'reaction.removed'],
  apply(prev: unknown, event: KindEventBase, viewer: string): ReactionCount[] {
    const before = new Map(((prev as ReactionCount[] | undefined) ?? []).map((r) => [r.emoji, r.me]));
    const mine = event.user_id === viewer ? String(event.input.emoji) : null;
    return ((event.reactions as ReactionCount[]) ?? []).map((r) => {
      const me = r.emoji === mine ? event.type === 'reaction.added' : before.get(r.emoji);
      return me === undefined ? { emoji: r.emoji, count: r.count } : { emoji: r.emoji, count: r.count, me };
    });
  },
});
