// The demo page's slot per kind: how a message shows the kind (reaction chips, a poll's
// tallies) and, for content kinds, how the composer writes one ("/poll …"). A view calls its
// kind's actions through `act`; their events update the message like any event.
import type { Message } from '@herald/client';

export type Act = (action: string, args: Record<string, unknown>) => void;

export interface KindView {
  /** The kind's name (src/protocol/kinds/), whose actions `act` calls. */
  kind: string;
  /** What the message shows for this kind under its body, or null. */
  render(m: Message, me: string, act: Act): HTMLElement | null;
  /** Content kinds: the send a composer text stands for ("/poll Lunch? | Pizza | Sushi"), or null. */
  compose?(text: string): { body: string; fields: Record<string, unknown> } | null;
}
