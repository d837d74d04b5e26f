// SystemEvent: the system records a change in a conversation (joined, left,
// renamed, created) as a message of kind `system` with structured `data`.
// It touches inbox entries like any message but never counts as unread.
import type { Actor } from '../../protocol/index.ts';
import { appendMessage, type ComposeContext, type Composed, lockConversation, memberIds } from '../compose.ts';

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
  const actor: Actor = { type: 'system' };
  const conv = await lockConversation(ctx, cmd.conversation, actor);
  const large = conv.member_count > ctx.limits.largeChannelThreshold;
  // Large conversations: inbox entries of joiners are written by the membership change itself.
  const recipients = large ? [] : await memberIds(ctx, conv.id);
  const message = await appendMessage(ctx, {
    conversation: conv,
    actor,
    kind: 'system',
    input: { body: describe(cmd.data), data: cmd.data },
    recipients,
    countsAsUnread: false,
    mentionable: [],
  });
  return { message, replayed: false };
}
