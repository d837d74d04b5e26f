// ChannelMessage: class-style discussion. Small channels fan out like groups;
// above the threshold only mentions (and readers) get per-recipient writes,
// so a message costs O(1) rows whatever the member count (DESIGN §6).
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

export interface ChannelMessage {
  kind: 'ChannelMessage';
  sender: string;
  conversation: string;
  input: MessageInput;
}

export async function handleChannelMessage(ctx: ComposeContext, cmd: ChannelMessage): Promise<Composed> {
  validateInput(cmd.input, ctx.limits);
  const actor = { type: 'user', user_id: cmd.sender } as const;
  const conv = await lockConversation(ctx, cmd.conversation, actor);
  if (conv.kind !== 'channel') throw new HeraldError('INVALID_KIND', 'Not a channel.');
  if (!conv.role) throw new HeraldError('NOT_A_MEMBER');
  const earlier = await findBySenderClientId(ctx.tx, ctx.tenant, actor, cmd.input.client_id);
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
