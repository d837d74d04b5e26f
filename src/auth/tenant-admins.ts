// Tenant admins: users a tenant's backend names as its administrators. They receive the system
// notices about the tenant itself (a webhook endpoint disabled for failing). Changes are
// audited in the same statement.
import { type AuditActor, auditInsertSql, auditParam } from '../audit/record.ts';
import type { Sql } from '../domain/ports.ts';
import { iso } from '../domain/rows.ts';
import { HeraldError } from '../protocol/index.ts';

export interface TenantAdmin {
  user_id: string;
  created_at: string;
}

export async function listAdmins(sql: Sql, tenant: string): Promise<TenantAdmin[]> {
  const { rows } = await sql.query<{ user_id: string; created_at: Date | string }>(
    'SELECT user_id, created_at FROM tenant_admins WHERE tenant_id = $1 ORDER BY user_id LIMIT 1000',
    [tenant],
  );
  return rows.map((r) => ({ user_id: r.user_id, created_at: iso(r.created_at) }));
}

/** Makes a user of the tenant an admin (idempotent: an admin already stays, unrecorded). */
export async function addAdmin(
  sql: Sql,
  tenant: string,
  user: string,
  actor: AuditActor,
): Promise<TenantAdmin> {
  const audit = auditParam({ tenant, actor, action: 'admin.added', target: { type: 'user', id: user } });
  const { rows } = await sql.query<{ known: boolean; created_at: Date | string | null }>(
    `WITH u AS (SELECT 1 FROM users WHERE tenant_id = $1 AND id = $2),
     ins AS (
       INSERT INTO tenant_admins (tenant_id, user_id) SELECT $1, $2 FROM u
       ON CONFLICT DO NOTHING RETURNING created_at),
     audit AS (${auditInsertSql('$3', 'ins')})
     SELECT EXISTS (SELECT 1 FROM u) AS known,
            COALESCE((SELECT created_at FROM ins),
                     (SELECT created_at FROM tenant_admins WHERE tenant_id = $1 AND user_id = $2)) AS created_at`,
    [tenant, user, audit],
  );
  if (!rows[0].known || rows[0].created_at == null)
    throw new HeraldError('USER_NOT_FOUND', `No user ${user} in this tenant.`);
  return { user_id: user, created_at: iso(rows[0].created_at) };
}

export async function removeAdmin(sql: Sql, tenant: string, user: string, actor: AuditActor): Promise<void> {
  const audit = auditParam({ tenant, actor, action: 'admin.removed', target: { type: 'user', id: user } });
  const { rows } = await sql.query(
    `WITH del AS (DELETE FROM tenant_admins WHERE tenant_id = $1 AND user_id = $2 RETURNING 1),
     audit AS (${auditInsertSql('$3', 'del')})
     SELECT 1 FROM del`,
    [tenant, user, audit],
  );
  if (!rows[0]) throw new HeraldError('USER_NOT_FOUND', `${user} is not an admin of this tenant.`);
}
