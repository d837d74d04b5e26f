// API key management for operators (the CLI): rotation revokes every other key
// of the tenant in the same transaction that creates the new one.
import { randomUUID } from 'node:crypto';
import { type AuditActor, recordAudit } from '../audit/record.ts';
import { HeraldError } from '../protocol/index.ts';
import type { Db } from '../store/db.ts';
import { newSecret, sha256 } from './secrets.ts';

/** A new API key for the tenant; every other key of it stops working. Shown once. */
export async function rotateApiKey(
  db: Db,
  tenant: string,
  actor: AuditActor = { type: 'cli' },
): Promise<{ api_key: string; revoked: number }> {
  return db.transaction(async (tx) => {
    const { rows: t } = await tx.query('SELECT 1 FROM tenants WHERE id = $1 FOR UPDATE', [tenant]);
    if (!t[0]) throw new HeraldError('TENANT_NOT_FOUND', `No tenant ${tenant}.`);
    const { rows } = await tx.query<{ n: number }>(
      `WITH r AS (UPDATE api_keys SET revoked_at = now() WHERE tenant_id = $1 AND revoked_at IS NULL RETURNING 1)
       SELECT count(*)::int AS n FROM r`,
      [tenant],
    );
    const key = newSecret('hk_');
    const id = randomUUID();
    await tx.query('INSERT INTO api_keys (id, tenant_id, key_hash) VALUES ($1, $2, $3)', [
      id,
      tenant,
      sha256(key),
    ]);
    await recordAudit(tx, {
      tenant,
      actor,
      action: 'apikey.rotated',
      target: { type: 'api_key', id },
      details: { revoked: rows[0].n },
    });
    return { api_key: key, revoked: rows[0].n };
  });
}

/** Every tenant with its count of live API keys and users. */
export async function listTenants(
  db: Db,
): Promise<{ tenant_id: string; name: string; api_keys: number; users: number; created_at: Date }[]> {
  const { rows } = await db.query<{
    tenant_id: string;
    name: string;
    api_keys: number;
    users: number;
    created_at: Date;
  }>(
    `SELECT t.id AS tenant_id, t.name, t.created_at,
            (SELECT count(*)::int FROM api_keys k WHERE k.tenant_id = t.id AND k.revoked_at IS NULL) AS api_keys,
            (SELECT count(*)::int FROM users u WHERE u.tenant_id = t.id) AS users
       FROM tenants t ORDER BY t.id`,
  );
  return rows;
}
