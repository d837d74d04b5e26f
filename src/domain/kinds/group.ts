// GroupMessage: user → the members of a `group`, fanned out at compose.
import { HeraldError } from '../../protocol/index.ts';
import {
  appendMessage,
  type ComposeContext,
  type Composed,
  findBySenderClientId,
  lockConversation,
  type MessageInput,
  memberIds,
  validateInput,
} from '../compose.ts';

export interface GroupMessage {
  kind: 'GroupMessage';
  sender: string;
  conversation: string;
  input: MessageInput;
}

export async function handleGroupMessage(ctx: ComposeContext, cmd: GroupMessage): Promise<Composed> {
  validateInput(cmd.input, ctx.limits);
  const actor = { type: 'user', user_id: cmd.sender } as const;
  const conv = await lockConversation(ctx, cmd.conversation, actor);
  if (conv.kind !== 'group') throw new HeraldError('INVALID_KIND', 'Not a group conversation.');
  if (!conv.role) throw new HeraldError('NOT_A_MEMBER');
  const earlier = await findBySenderClientId(ctx.tx, ctx.tenant, actor, cmd.input.client_id);
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
