// SystemNotice: the system tells one user, a list, or the whole tenant.
// Stored once; each recipient gets a notice entry (read, archived, dismissed,
// escalated) and a `notice` frame on their personal topic, in bulk.
import { randomUUID } from 'node:crypto';
import { type AuditActor, recordAudit } from '../../audit/record.ts';
import { HeraldError } from '../../protocol/index.ts';
import type { ComposeContext } from '../compose.ts';
import { NOTICE_JSON, userTopicSql } from '../rows.ts';
import { defineKind } from './define.ts';

export interface SystemNotice {
  kind: 'SystemNotice';
  to: string[] | 'tenant';
  title: string;
  body: string;
  data?: Record<string, unknown> | null;
  /** Who sends it, for the audit log of tenant-wide notices (default: the system). */
  actor?: AuditActor;
}

export interface NoticeSent {
  notice_id: string;
  recipients: number;
}

const encoder = new TextEncoder();

export async function handleSystemNotice(ctx: ComposeContext, cmd: SystemNotice): Promise<NoticeSent> {
  if (cmd.title.trim() === '' && cmd.body.trim() === '') throw new HeraldError('EMPTY_BODY');
  if (encoder.encode(cmd.title).length + encoder.encode(cmd.body).length > ctx.limits.maxBodyBytes) {
    throw new HeraldError('BODY_TOO_LARGE');
  }
  let recipients: string[];
  if (cmd.to === 'tenant') {
    const { rows } = await ctx.tx.query<{ id: string }>('SELECT id FROM users WHERE tenant_id = $1', [
      ctx.tenant,
    ]);
    recipients = rows.map((r) => r.id);
  } else {
    recipients = [...new Set(cmd.to)];
    if (recipients.length === 0) throw new HeraldError('VALIDATION_FAILED', '`to` names no user.');
    if (recipients.length > ctx.limits.maxMembersPerCall) throw new HeraldError('TOO_MANY_MEMBERS');
    const { rows } = await ctx.tx.query<{ id: string }>(
      'SELECT id FROM users WHERE tenant_id = $1 AND id = ANY($2::text[])',
      [ctx.tenant, recipients],
    );
    if (rows.length !== recipients.length) {
      const known = new Set(rows.map((r) => r.id));
      const missing = recipients.filter((u) => !known.has(u));
      throw new HeraldError('USER_NOT_FOUND', `Unknown users: ${missing.slice(0, 5).join(', ')}.`);
    }
  }
  const id = randomUUID();
  await ctx.tx.query(
    `WITH n AS (
       INSERT INTO notices (tenant_id, id, title, body, data, audience)
       VALUES ($1, $2, $3, $4, $5::jsonb, $6) RETURNING *),
     ne AS (
       INSERT INTO notice_entries (tenant_id, user_id, notice_id)
       SELECT $1, u, $2 FROM unnest($7::text[]) AS u RETURNING *)
     INSERT INTO outbox (tenant_id, topic, payload, trace_id)
     SELECT $1, ${userTopicSql('$1', 'ne.user_id')},
            jsonb_build_object('type', 'notice', 'notice', ${NOTICE_JSON}), $8
       FROM ne, n`,
    [
      ctx.tenant,
      id,
      cmd.title,
      cmd.body,
      cmd.data ? JSON.stringify(cmd.data) : null,
      cmd.to === 'tenant' ? 'tenant' : 'users',
      recipients,
      ctx.traceId ?? null,
    ],
  );
  if (cmd.to === 'tenant') {
    // A mass action: recorded with the notice, in its transaction.
    await recordAudit(ctx.tx, {
      tenant: ctx.tenant,
      actor: cmd.actor ?? { type: 'system' },
      action: 'notice.sent_to_tenant',
      target: { type: 'notice', id },
      recipients: recipients.length,
      details: { title: cmd.title },
      trace: ctx.traceId,
    });
  }
  return { notice_id: id, recipients: recipients.length };
}

/** Notices go to users, not conversations: no user send routes here. */
export const systemNoticeKind = defineKind<SystemNotice, NoticeSent>()({
  command: 'SystemNotice',
  conversationKinds: [],
  handle: handleSystemNotice,
});
