// SystemEvent: the system records a change in a conversation (joined, left,
// renamed, created) as a message of kind `system` with structured `data`.
// It touches inbox entries like any message but never counts as unread.
// The users an event is about have seen it: their markers move past it. That matters most in
// large channels, where unread is derived from seqs and a joiner would otherwise start with
// their own join event unread; large conversations otherwise touch no entry (O(1) writes
// whatever the member count). Creation marks every member (herald_send's kind rules,
// migration 005): no costlier than the creation itself.
import { type ComposeContext, type Composed, composeOne } from '../compose.ts';
import { defineKind } from './define.ts';

export type SystemEventData =
  | { event: 'created'; by: string | null; title: string | null }
  | { event: 'joined'; user_ids: string[]; by: string | null }
  | { event: 'left'; user_ids: string[]; by: string | null }
  | { event: 'renamed'; title: string; by: string | null };

export interface SystemEvent {
  kind: 'SystemEvent';
  conversation: string;
  data: SystemEventData;
}

function describe(d: SystemEventData): string {
  switch (d.event) {
    case 'created':
      return d.title ? `Conversation "${d.title}" created` : 'Conversation created';
    case 'joined':
      return `${d.user_ids.join(', ')} joined`;
    case 'left':
      return `${d.user_ids.join(', ')} left`;
    case 'renamed':
      return `Renamed to "${d.title}"`;
  }
}

export async function handleSystemEvent(ctx: ComposeContext, cmd: SystemEvent): Promise<Composed> {
  const d = cmd.data;
  return composeOne(ctx, {
    conversation: cmd.conversation,
    sender: null,
    kind: 'system',
    input: { body: describe(d), data: d },
    subjects: d.event === 'joined' ? d.user_ids : [],
    created: d.event === 'created',
  });
}

/** The system's own: no user send routes here. */
export const systemEventKind = defineKind<SystemEvent, Composed>()({
  command: 'SystemEvent',
  conversationKinds: [],
  handle: handleSystemEvent,
});
