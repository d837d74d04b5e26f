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
import type { Sql, Transactor } from '../ports.ts';
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
export async function getOrCreateDirect(tx: Sql, tenant: string, a: string, b: string): Promise<string> {
  if (a === b) throw new HeraldError('VALIDATION_FAILED', 'A direct conversation needs two different users.');
  const { rows: users } = await tx.query<{ id: string }>(
    'SELECT id FROM users WHERE tenant_id = $1 AND id = ANY($2::text[])',
    [tenant, [a, b]],
  );
  if (users.length < 2) throw new HeraldError('USER_NOT_FOUND');
  const key = directKey(a, b);
  // Concurrent first sends race on the unique key; the loser reads the winner's row.
  const { rows } = await tx.query<{ id: string }>(
    `WITH ins AS (
       INSERT INTO conversations (tenant_id, id, kind, direct_key, created_by, member_count)
       VALUES ($1, $2, 'direct', $3, $4, 2)
       ON CONFLICT (tenant_id, direct_key) DO NOTHING RETURNING id),
     mem AS (
       INSERT INTO members (tenant_id, conversation_id, user_id)
       SELECT $1, ins.id, u FROM ins, unnest($5::text[]) AS u),
     inbox AS (
       INSERT INTO inbox_entries (tenant_id, user_id, conversation_id)
       SELECT $1, u, ins.id FROM ins, unnest($5::text[]) AS u)
     SELECT id FROM ins
     UNION ALL
     SELECT id FROM conversations WHERE tenant_id = $1 AND direct_key = $3`,
    [tenant, randomUUID(), key, a, [a, b]],
  );
  if (rows[0]) return rows[0].id;
  // The loser of a concurrent first send waited on the unique key, then did nothing; its
  // statement snapshot predates the winner's commit, so read the row in a new statement.
  const { rows: again } = await tx.query<{ id: string }>(
    'SELECT id FROM conversations WHERE tenant_id = $1 AND direct_key = $2',
    [tenant, key],
  );
  if (!again[0]) throw new HeraldError('CONFLICT', 'The direct conversation could not be created; retry.');
  return again[0].id;
}

function sendTo(cmd: DirectMessage, conversation: string): SendRequest {
  return { conversation, sender: cmd.sender, kind: 'direct', input: cmd.input };
}

/**
 * The send of a direct message. Addressed by user, the pair's conversation is resolved (created
 * on first send) in a transaction of its own first. A client_id already used for a message
 * elsewhere is refused before anything is created: a mismatched replay writes nothing.
 */
export async function directSend(db: Transactor, tenant: string, cmd: DirectMessage): Promise<SendRequest> {
  if (cmd.conversation) return sendTo(cmd, cmd.conversation);
  const to = cmd.to;
  if (!to) throw new HeraldError('VALIDATION_FAILED', 'A direct message needs `to` or `conversation`.');
  const id = await db.transaction(async (tx) => {
    const clientId = cmd.input.client_id;
    if (clientId) {
      const { rows } = await tx.query<{ id: string; direct_key: string | null }>(
        `SELECT c.id, c.direct_key FROM messages m
           JOIN conversations c ON c.tenant_id = m.tenant_id AND c.id = m.conversation_id
          WHERE m.tenant_id = $1 AND m.sender_id = $2 AND m.client_id = $3`,
        [tenant, cmd.sender, clientId],
      );
      if (rows[0] && rows[0].direct_key === directKey(cmd.sender, to)) return rows[0].id;
      if (rows[0]) throw new HeraldError('IDEMPOTENCY_KEY_REUSED');
    }
    return getOrCreateDirect(tx, tenant, cmd.sender, to);
  });
  return sendTo(cmd, id);
}

/** Inside a caller's transaction: get-or-create and send in it. */
export async function handleDirectMessage(ctx: ComposeContext, cmd: DirectMessage): Promise<Composed> {
  const id =
    cmd.conversation ?? (cmd.to ? await getOrCreateDirect(ctx.tx, ctx.tenant, cmd.sender, cmd.to) : null);
  if (!id) throw new HeraldError('VALIDATION_FAILED', 'A direct message needs `to` or `conversation`.');
  return composeOne(ctx, sendTo(cmd, id));
}

export const directKind = defineKind<DirectMessage, Composed>()({
  command: 'DirectMessage',
  conversationKinds: ['direct'],
  handle: handleDirectMessage,
  fromUser: (sender, conversation, input) => ({ kind: 'DirectMessage', sender, conversation, input }),
  send: (deps, tenant, cmd) => directSend(deps.db, tenant, cmd),
});
