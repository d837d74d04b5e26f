// DirectMessage: user → user, in the pair's one `direct` conversation,
// created on first send.
import { randomUUID } from 'node:crypto';
import { HeraldError } from '../../protocol/index.ts';
import {
  appendMessage,
  type ComposeContext,
  type Composed,
  type MessageInput,
  memberIds,
  openMemberSend,
} from '../compose.ts';
import type { Sql } from '../ports.ts';

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

export async function handleDirectMessage(ctx: ComposeContext, cmd: DirectMessage): Promise<Composed> {
  const id =
    cmd.conversation ?? (cmd.to ? await getOrCreateDirect(ctx.tx, ctx.tenant, cmd.sender, cmd.to) : null);
  if (!id) throw new HeraldError('VALIDATION_FAILED', 'A direct message needs `to` or `conversation`.');
  const { conv, actor, earlier } = await openMemberSend(ctx, cmd.sender, id, 'direct', cmd.input);
  if (earlier) return { message: earlier, replayed: true };
  const recipients = await memberIds(ctx, id);
  const message = await appendMessage(ctx, {
    conversation: conv,
    actor,
    kind: 'direct',
    input: cmd.input,
    recipients,
    countsAsUnread: true,
    mentionable: recipients,
  });
  return { message, replayed: false };
}
