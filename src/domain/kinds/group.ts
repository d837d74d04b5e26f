// GroupMessage: user → the members of a `group`, fanned out at compose (every member gets an
// inbox entry; herald_send's kind rules, migration 005).
import {
  type ComposeContext,
  type Composed,
  composeOne,
  type MessageInput,
  type SendRequest,
} from '../compose.ts';
import { defineKind } from './define.ts';

export interface GroupMessage {
  kind: 'GroupMessage';
  sender: string;
  conversation: string;
  input: MessageInput;
}

export function groupSend(cmd: GroupMessage): SendRequest {
  return { conversation: cmd.conversation, sender: cmd.sender, kind: 'group', input: cmd.input };
}

export async function handleGroupMessage(ctx: ComposeContext, cmd: GroupMessage): Promise<Composed> {
  return composeOne(ctx, groupSend(cmd));
}

export const groupKind = defineKind<GroupMessage, Composed>()({
  command: 'GroupMessage',
  conversationKinds: ['group'],
  handle: handleGroupMessage,
  fromUser: (sender, conversation, input) => ({ kind: 'GroupMessage', sender, conversation, input }),
  send: (_deps, _tenant, cmd) => groupSend(cmd),
});
