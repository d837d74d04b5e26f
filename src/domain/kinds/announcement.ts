// Announcement: admins or the system post to an `announcement` conversation; its audience
// (the whole tenant, or its members) gets an inbox entry each (herald_send's kind rules,
// migration 005). A user must be the conversation's admin: NOT_ADMIN otherwise.
import type { Actor } from '../../protocol/index.ts';
import {
  type ComposeContext,
  type Composed,
  composeOne,
  type MessageInput,
  type SendRequest,
} from '../compose.ts';
import { defineKind } from './define.ts';

export interface Announcement {
  kind: 'Announcement';
  actor: Actor;
  conversation: string;
  input: MessageInput;
}

export function announcementSend(cmd: Announcement): SendRequest {
  return {
    conversation: cmd.conversation,
    sender: cmd.actor.type === 'user' ? cmd.actor.user_id : null,
    kind: 'announcement',
    input: cmd.input,
  };
}

export async function handleAnnouncement(ctx: ComposeContext, cmd: Announcement): Promise<Composed> {
  return composeOne(ctx, announcementSend(cmd));
}

export const announcementKind = defineKind<Announcement, Composed>()({
  command: 'Announcement',
  conversationKinds: ['announcement'],
  handle: handleAnnouncement,
  fromUser: (sender, conversation, input) => ({
    kind: 'Announcement',
    actor: { type: 'user', user_id: sender },
    conversation,
    input,
  }),
  send: (_deps, _tenant, cmd) => announcementSend(cmd),
});
