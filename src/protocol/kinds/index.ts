// The list of kinds with a wire half (define.ts). Adding a kind: its file here, one line below,
// and its server half in src/domain/kinds/ (listed in src/domain/kinds/index.ts).
import type {
  ActionsOf,
  ContentOf,
  EventsOf,
  FramesOf,
  KindEventBase,
  SummariesOf,
  WireKindShape,
} from './define.ts';
import { pollWire } from './poll.ts';
import { reactionsWire } from './reactions.ts';

export const wireKinds = [reactionsWire, pollWire] as const;

export type WireKind = (typeof wireKinds)[number];
export type KindSummaries = SummariesOf<WireKind>;
export type KindContent = ContentOf<WireKind>;
export type KindEvent = EventsOf<WireKind>;
export type KindAction = ActionsOf<WireKind>;
export type KindFrame = FramesOf<WireKind>;
export type { ActionRoute, KindEventBase, WireAction, WireKindShape } from './define.ts';

const byEvent = new Map<string, WireKindShape>(
  (wireKinds as readonly WireKindShape[]).flatMap((w) => w.events.map((e) => [e, w] as const)),
);

/** Whether an event is one of the kinds' (a reaction, a vote) rather than a message's own. */
export function isKindEvent(event: { type: string }): event is KindEvent {
  return byEvent.has(event.type);
}

/** The message with a kind event folded into its summary, as `viewer` sees it (SDK, demo). */
export function applyKindEvent<M extends object>(message: M, event: KindEvent, viewer: string): M {
  const w = byEvent.get((event as { type: string }).type);
  if (!w) return message;
  const field = w.summary.field;
  const prev = (message as Record<string, unknown>)[field];
  return { ...message, [field]: w.apply(prev, event as unknown as KindEventBase, viewer) };
}

/**
 * `next` (an edited message from an event, which carries no summaries) with the summaries
 * `prev` had: an edit changes the text, not the reactions or a poll's tallies.
 */
export function keepSummaries<M extends object>(prev: M | undefined, next: M): M {
  if (!prev) return next;
  let out = next;
  for (const w of wireKinds as readonly WireKindShape[]) {
    const f = w.summary.field;
    const had = (prev as Record<string, unknown>)[f];
    if (had !== undefined && (next as Record<string, unknown>)[f] === undefined) out = { ...out, [f]: had };
  }
  return out;
}
