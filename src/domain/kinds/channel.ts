// ChannelMessage: class-style discussion. Small channels fan out like groups;
// above the threshold only mentions (and readers) get per-recipient writes,
// so a message costs O(1) rows whatever the member count (DESIGN §6).
import {
  appendMessage,
  type ComposeContext,
  type Composed,
  type MessageInput,
  memberIds,
  openMemberSend,
} from '../compose.ts';

export interface ChannelMessage {
  kind: 'ChannelMessage';
  sender: string;
  conversation: string;
  input: MessageInput;
}

export async function handleChannelMessage(ctx: ComposeContext, cmd: ChannelMessage): Promise<Composed> {
  const { conv, actor, earlier } = await openMemberSend(
    ctx,
    cmd.sender,
    cmd.conversation,
    'channel',
    cmd.input,
  );
  if (earlier) return { message: earlier, replayed: true };
  const large = conv.member_count > ctx.limits.largeChannelThreshold;
  const recipients = large ? [cmd.sender, ...(cmd.input.mentions ?? [])] : await memberIds(ctx, conv.id);
  const message = await appendMessage(ctx, {
    conversation: conv,
    actor,
    kind: 'channel',
    input: cmd.input,
    recipients,
    countsAsUnread: true,
    // Large: mentions are checked against the store, and every viewer's marker moves.
    mentionable: large ? undefined : recipients,
    includeAllViewers: large,
  });
  return { message, replayed: false };
}
