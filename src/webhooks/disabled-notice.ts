// When the dispatcher disables an endpoint for failing, the tenant's admins (tenant_admins,
// src/auth/tenant-admins.ts) get a system notice and the audit log a record — both in the
// transaction that disables it, so the three commit together. A tenant without admins still
// gets the record (and the node's warning log line).
import { recordAudit } from '../audit/record.ts';
import { handleSystemNotice } from '../domain/kinds/system-notice.ts';
import { defaultLimits } from '../domain/limits.ts';
import { nobodyViewing, type Sql } from '../domain/ports.ts';
import { pgWrites } from '../store/pg/index.ts';

export interface DisabledEndpoint {
  tenant_id: string;
  endpoint_id: string;
  url: string;
}

/** Returns the notice's id, or null when the tenant has no admins. */
export async function noticeDisabled(tx: Sql, e: DisabledEndpoint): Promise<string | null> {
  const { rows } = await tx.query<{ user_id: string }>(
    'SELECT user_id FROM tenant_admins WHERE tenant_id = $1 ORDER BY user_id',
    [e.tenant_id],
  );
  const admins = rows.map((r) => r.user_id);
  let noticeId: string | null = null;
  if (admins.length > 0) {
    const sent = await handleSystemNotice(
      {
        tx,
        writes: pgWrites(tx),
        tenant: e.tenant_id,
        // Every admin is told, however many there are.
        limits: {
          ...defaultLimits,
          maxMembersPerCall: Math.max(defaultLimits.maxMembersPerCall, admins.length),
        },
        viewing: nobodyViewing,
      },
      {
        kind: 'SystemNotice',
        to: admins,
        title: 'Webhook endpoint disabled',
        body:
          `Every delivery attempt to ${e.url.slice(0, 500)} failed for the whole retry window, so ` +
          `Herald disabled the endpoint ${e.endpoint_id}. Its pending deliveries wait. Fix the ` +
          `receiver, then re-enable it (PATCH /v1/webhooks/${e.endpoint_id} {"enabled": true}).`,
        data: { type: 'webhook.disabled', endpoint_id: e.endpoint_id, url: e.url, reason: 'failing' },
      },
    );
    noticeId = sent.notice_id;
  }
  await recordAudit(tx, {
    tenant: e.tenant_id,
    actor: { type: 'system' },
    action: 'webhook.disabled',
    target: { type: 'webhook', id: e.endpoint_id },
    recipients: admins.length,
    details: { url: e.url, reason: 'failing', notice_id: noticeId },
  });
  return noticeId;
}
