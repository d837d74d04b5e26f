// The audit log's write side: who did what to what, when, and how many it reached — always
// inside the transaction (or the very statement) of the action, so an action and its record
// commit together or not at all.
import type { Sql } from '../domain/ports.ts';

/** Who acted: a tenant backend's API key, a user, the operator (HTTP), the CLI, or Herald. */
export type AuditActor =
  | { type: 'api_key'; id: string }
  | { type: 'user'; id: string }
  | { type: 'operator' }
  | { type: 'cli' }
  | { type: 'system' };

export const AUDIT_ACTIONS = [
  'tenant.created',
  'apikey.rotated',
  'grant.created',
  'grant.revoked',
  'admin.added',
  'admin.removed',
  'announcement.sent',
  'notice.sent_to_tenant',
  'member.removed',
  'webhook.created',
  'webhook.updated',
  'webhook.secret_rotated',
  'webhook.deleted',
  'webhook.disabled',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export interface AuditEntry {
  tenant: string;
  actor: AuditActor;
  action: AuditAction;
  target?: { type: string; id: string } | null;
  recipients?: number | null;
  details?: Record<string, unknown> | null;
  trace?: string | null;
}

/** The entry as the JSON object `auditInsertSql` reads (one parameter). */
export function auditParam(e: AuditEntry): string {
  return JSON.stringify({
    tenant_id: e.tenant,
    actor_type: e.actor.type,
    actor_id: 'id' in e.actor ? e.actor.id : null,
    action: e.action,
    target_type: e.target?.type ?? null,
    target_id: e.target?.id ?? null,
    recipients: e.recipients ?? null,
    details: e.details ?? null,
    trace_id: e.trace ?? null,
  });
}

/**
 * An INSERT of the entry in parameter `param` (auditParam's JSON), for use as a
 * data-modifying CTE beside the action's own statement. `from` adds rows the insert depends
 * on (e.g. `w` — the CTE of the changed row: no row, no record).
 */
export function auditInsertSql(param: string, from?: string): string {
  return `INSERT INTO audit_log (tenant_id, actor_type, actor_id, action, target_type, target_id, recipients,
                                 details, trace_id)
          SELECT a.tenant_id, a.actor_type, a.actor_id, a.action, a.target_type, a.target_id, a.recipients,
                 a.details, a.trace_id
            FROM jsonb_to_record(${param}::jsonb) AS a(tenant_id text, actor_type text, actor_id text, action text,
                 target_type text, target_id text, recipients integer, details jsonb, trace_id text)
            ${from ? `, ${from}` : ''}`;
}

/** Records an entry with the caller's transaction. */
export async function recordAudit(sql: Sql, e: AuditEntry): Promise<void> {
  await sql.query(auditInsertSql('$1'), [auditParam(e)]);
}
