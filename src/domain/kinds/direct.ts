// DirectMessage: user → user, in the pair's one `direct` conversation, created on first
// send. Both members get an inbox entry (herald_send's kind rules, migration 005).
import { randomUUID } from 'node:crypto';
import { HeraldError } from '../../protocol/index.ts';
import {
  type ComposeContext,
  type Composed,
  composeOne,
  type MessageInput,
  type SendRequest,
} from '../compose.ts';
import type { DomainDeps } from '../context.ts';
import type { ConversationStore } from '../conversation-store.ts';
import { defineKind } from './define.ts';

export interface DirectMessage {
  kind: 'DirectMessage';
  sender: string;
  /** Either the other user (get-or-create) or the conversation id. */
  to?: string;
  conversation?: string;
  input: MessageInput;
}

export function directKey(a: string, b: string): string {
  return a < b ? `${a}|${b}` : `${b}|${a}`;
}

/** Both users must exist in the tenant; returns the pair's conversation id, creating it once. */
export async function getOrCreateDirect(
  store: ConversationStore,
  tenant: string,
  a: string,
  b: string,
): Promise<string> {
  if (a === b) throw new HeraldError('VALIDATION_FAILED', 'A direct conversation needs two different users.');
  const users = await store.knownUsers(tenant, [a, b]);
  if (users.length < 2) throw new HeraldError('USER_NOT_FOUND');
  const key = directKey(a, b);
  const id = await store.openDirect({ tenant, id: randomUUID(), key, createdBy: a, users: [a, b] });
  if (id) return id;
  // The loser of a concurrent first send waited on the unique key, then did nothing; its
  // statement snapshot predates the winner's commit, so read the row in a new statement.
  const again = await store.directByKey(tenant, key);
  if (!again) throw new HeraldError('CONFLICT', 'The direct conversation could not be created; retry.');
  return again;
}

function sendTo(cmd: DirectMessage, conversation: string): SendRequest {
  return { conversation, sender: cmd.sender, kind: 'direct', input: cmd.input };
}

/**
 * The send of a direct message. Addressed by user, the pair's conversation is resolved (created
 * on first send) in a transaction of its own first. A client_id already used for a message
 * elsewhere is refused before anything is created: a mismatched replay writes nothing.
 */
export async function directSend(
  deps: Pick<DomainDeps, 'db' | 'writes'>,
  tenant: string,
  cmd: DirectMessage,
): Promise<SendRequest> {
  if (cmd.conversation) return sendTo(cmd, cmd.conversation);
  const to = cmd.to;
  if (!to) throw new HeraldError('VALIDATION_FAILED', 'A direct message needs `to` or `conversation`.');
  const id = await deps.db.transaction(async (tx) => {
    const store = deps.writes(tx).conversations;
    const clientId = cmd.input.client_id;
    if (clientId) {
      const earlier = await store.sentWithClientId(tenant, cmd.sender, clientId);
      if (earlier && earlier.directKey === directKey(cmd.sender, to)) return earlier.conversation;
      if (earlier) throw new HeraldError('IDEMPOTENCY_KEY_REUSED');
    }
    return getOrCreateDirect(store, tenant, cmd.sender, to);
  });
  return sendTo(cmd, id);
}

/** Inside a caller's transaction: get-or-create and send in it. */
export async function handleDirectMessage(ctx: ComposeContext, cmd: DirectMessage): Promise<Composed> {
  const id =
    cmd.conversation ??
    (cmd.to ? await getOrCreateDirect(ctx.writes.conversations, ctx.tenant, cmd.sender, cmd.to) : null);
  if (!id) throw new HeraldError('VALIDATION_FAILED', 'A direct message needs `to` or `conversation`.');
  return composeOne(ctx, sendTo(cmd, id));
}

export const directKind = defineKind<DirectMessage, Composed>()({
  command: 'DirectMessage',
  conversationKinds: ['direct'],
  handle: handleDirectMessage,
  fromUser: (sender, conversation, input) => ({ kind: 'DirectMessage', sender, conversation, input }),
  send: (deps, tenant, cmd) => directSend(deps, tenant, cmd),
});
