// SystemEvent: the system records a change in a conversation (joined, left,
// renamed, created) as a message of kind `system` with structured `data`.
// It touches inbox entries like any message but never counts as unread.
import type { Actor } from '../../protocol/index.ts';
import {
  appendMessage,
  type ComposeContext,
  type Composed,
  lockConversation,
  memberIds,
} from '../compose.ts';

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
  // The users an event is about have seen it: their markers move past it. That matters most
  // in large channels, where unread is derived from seqs and a joiner would otherwise start
  // with their own join event unread. Creation already wrote an entry per member, so marking
  // them all is no costlier than the creation itself.
  const members = large && cmd.data.event !== 'created' ? null : await memberIds(ctx, conv.id);
  const subjects =
    cmd.data.event === 'created' ? (members ?? []) : cmd.data.event === 'joined' ? cmd.data.user_ids : [];
  // Large conversations otherwise touch no entry: O(1) writes whatever the member count.
  const recipients = large ? subjects : (members ?? []);
  const message = await appendMessage(ctx, {
    conversation: conv,
    actor,
    kind: 'system',
    input: { body: describe(cmd.data), data: cmd.data },
    recipients,
    readers: subjects,
    countsAsUnread: false,
    mentionable: [],
  });
  return { message, replayed: false };
}
