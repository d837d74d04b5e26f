// The second axis of routing: what a message carries. `text` is the default; a content kind
// with a wire half (src/protocol/kinds/) carries its content in one input field (a poll's
// `poll`), stored as the message's `data[field]`, so the send path (herald_send, the group
// commit) is the same for every content kind. commandFor checks the pair (conversation kind,
// content kind); specOf turns the field into data.
import { CONVERSATION_KINDS, type ConversationKind, HeraldError } from '../protocol/index.ts';
import type { MessageInput } from './context.ts';
import { serverKinds } from './kinds/index.ts';
import type { AnyServerKind } from './kinds/server-kind.ts';
import type { Limits } from './limits.ts';

export interface ContentKind {
  name: string;
  /** The input field (and data key) of its content; none for text. */
  field: string | null;
  /** The conversation kinds a user may send it to. */
  conversationKinds: readonly ConversationKind[];
  /** The message's text when the sender wrote none (clients that do not know the kind show it). */
  bodyOf?: (content: never) => string;
  check?: (content: never, limits: Limits) => void;
  server: AnyServerKind | null;
}

const text: ContentKind = {
  name: 'text',
  field: null,
  conversationKinds: CONVERSATION_KINDS.filter((k) => k !== 'notices'),
  server: null,
};

const byField = new Map<string, ContentKind>();
for (const k of serverKinds) {
  if (!k.content) continue;
  const field = k.wire.content?.field;
  if (!field) throw new Error(`Kind ${k.wire.name} has content rules but no content field.`);
  byField.set(field, { name: k.wire.name, field, ...k.content, server: k });
}

/** The content kind of a user's input: text, or the one content field it carries. */
export function contentKindOf(input: MessageInput): ContentKind {
  let found: ContentKind = text;
  for (const [field, kind] of byField) {
    if ((input as Record<string, unknown>)[field] === undefined) continue;
    if (found !== text)
      throw new HeraldError(
        'VALIDATION_FAILED',
        `A message carries one of ${[...byField.keys()].join(', ')} at most.`,
      );
    found = kind;
  }
  return found;
}

/** The message's data and body for its content (system data passes through). */
export function contentOf(input: MessageInput): { data: Record<string, unknown> | null; body: string } {
  if (input.data) return { data: input.data, body: input.body };
  const kind = contentKindOf(input);
  if (!kind.field) return { data: null, body: input.body };
  const value = (input as Record<string, unknown>)[kind.field];
  const body = input.body.trim() === '' && kind.bodyOf ? kind.bodyOf(value as never) : input.body;
  return { data: { [kind.field]: value }, body };
}
