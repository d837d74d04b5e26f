// ChannelMessage: class-style discussion. Small channels fan out like groups; above the
// threshold only the sender, the mentioned and the viewers get per-recipient writes, so a
// message costs O(1) rows whatever the member count (DESIGN §6; herald_send's kind rules,
// migration 005).
import {
  type ComposeContext,
  type Composed,
  composeOne,
  type MessageInput,
  type SendRequest,
} from '../compose.ts';
import { defineKind } from './define.ts';

export interface ChannelMessage {
  kind: 'ChannelMessage';
  sender: string;
  conversation: string;
  input: MessageInput;
}

export function channelSend(cmd: ChannelMessage): SendRequest {
  return { conversation: cmd.conversation, sender: cmd.sender, kind: 'channel', input: cmd.input };
}

export async function handleChannelMessage(ctx: ComposeContext, cmd: ChannelMessage): Promise<Composed> {
  return composeOne(ctx, channelSend(cmd));
}

export const channelKind = defineKind<ChannelMessage, Composed>()({
  command: 'ChannelMessage',
  conversationKinds: ['channel'],
  handle: handleChannelMessage,
  fromUser: (sender, conversation, input) => ({ kind: 'ChannelMessage', sender, conversation, input }),
  send: (_deps, _tenant, cmd) => channelSend(cmd),
});
