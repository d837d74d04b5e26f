// SystemNotice: the system tells one user, a list, or the whole tenant.
// Stored once; each recipient gets a notice entry (read, archived, dismissed,
// escalated) and a `notice` frame on their personal topic, in bulk.
import { randomUUID } from 'node:crypto';
import { type AuditActor, recordAudit } from '../../audit/record.ts';
import { HeraldError } from '../../protocol/index.ts';
import type { ComposeContext } from '../compose.ts';
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
  const notices = ctx.writes.notices;
  let recipients: string[];
  if (cmd.to === 'tenant') {
    recipients = await notices.tenantUsers(ctx.tenant);
  } else {
    recipients = [...new Set(cmd.to)];
    if (recipients.length === 0) throw new HeraldError('VALIDATION_FAILED', '`to` names no user.');
    if (recipients.length > ctx.limits.maxMembersPerCall) throw new HeraldError('TOO_MANY_MEMBERS');
    const known = new Set(await notices.knownUsers(ctx.tenant, recipients));
    if (known.size !== recipients.length) {
      const missing = recipients.filter((u) => !known.has(u));
      throw new HeraldError('USER_NOT_FOUND', `Unknown users: ${missing.slice(0, 5).join(', ')}.`);
    }
  }
  const id = randomUUID();
  await notices.send({
    tenant: ctx.tenant,
    id,
    title: cmd.title,
    body: cmd.body,
    data: cmd.data ?? null,
    audience: cmd.to === 'tenant' ? 'tenant' : 'users',
    recipients,
    traceId: ctx.traceId,
  });
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
