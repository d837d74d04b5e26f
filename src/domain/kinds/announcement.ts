// Announcement: admins or the system post to an `announcement` conversation;
// its audience (the whole tenant, or its members) gets an inbox entry each.
import { type Actor, HeraldError } from '../../protocol/index.ts';
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

export interface Announcement {
  kind: 'Announcement';
  actor: Actor;
  conversation: string;
  input: MessageInput;
}

export async function handleAnnouncement(ctx: ComposeContext, cmd: Announcement): Promise<Composed> {
  validateInput(cmd.input, ctx.limits);
  const conv = await lockConversation(ctx, cmd.conversation, cmd.actor);
  if (conv.kind !== 'announcement')
    throw new HeraldError('INVALID_KIND', 'Not an announcement conversation.');
  if (cmd.actor.type === 'user' && conv.role !== 'admin') throw new HeraldError('NOT_ADMIN');
  const earlier = await findBySenderClientId(ctx.tx, ctx.tenant, cmd.actor, cmd.input.client_id);
  if (earlier) return { message: earlier, replayed: true };
  const recipients =
    conv.audience === 'tenant'
      ? (
          await ctx.tx.query<{ id: string }>('SELECT id FROM users WHERE tenant_id = $1', [ctx.tenant])
        ).rows.map((r) => r.id)
      : await memberIds(ctx, conv.id);
  const message = await appendMessage(ctx, {
    conversation: conv,
    actor: cmd.actor,
    kind: 'announcement',
    input: cmd.input,
    recipients,
    countsAsUnread: true,
    mentionable: recipients,
  });
  return { message, replayed: false };
}
