// GroupMessage: user → the members of a `group`, fanned out at compose.
import {
  appendMessage,
  type ComposeContext,
  type Composed,
  type MessageInput,
  memberIds,
  openMemberSend,
} from '../compose.ts';

export interface GroupMessage {
  kind: 'GroupMessage';
  sender: string;
  conversation: string;
  input: MessageInput;
}

export async function handleGroupMessage(ctx: ComposeContext, cmd: GroupMessage): Promise<Composed> {
  const { conv, actor, earlier } = await openMemberSend(
    ctx,
    cmd.sender,
    cmd.conversation,
    'group',
    cmd.input,
  );
  if (earlier) return { message: earlier, replayed: true };
  const recipients = await memberIds(ctx, conv.id);
  const message = await appendMessage(ctx, {
    conversation: conv,
    actor,
    kind: 'group',
    input: cmd.input,
    recipients,
    countsAsUnread: true,
    mentionable: recipients,
  });
  return { message, replayed: false };
}
