// The demo's kind views. Adding a kind's view: its file here and one line below.
import type { Message } from '@herald/client';
import { pollView } from './poll.ts';
import { reactionsView } from './reactions.ts';
import type { KindView } from './view.ts';

const views: readonly KindView[] = [reactionsView, pollView];

export type KindAct = (kind: string, action: string, args: Record<string, unknown>) => void;

/** What each kind shows under a message. */
export function kindParts(m: Message, me: string, act: KindAct): HTMLElement[] {
  return views.flatMap((v) => v.render(m, me, (action, args) => act(v.kind, action, args)) ?? []);
}

/** The send a composer text stands for: a content kind's, or plain text. */
export function composed(text: string): { body: string; fields: Record<string, unknown> } {
  for (const v of views) {
    const c = v.compose?.(text);
    if (c) return c;
  }
  return { body: text, fields: {} };
}
