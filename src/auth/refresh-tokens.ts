// Rotating refresh tokens with reuse detection. Each refresh consumes the
// token and issues the next one of the same family; presenting a consumed
// token again means it leaked, so the whole family is revoked (the thief's
// and the owner's sessions both end) and the caller gets REFRESH_REUSED.
// A family is the server-side session: switch and refresh check it is live
// and re-read the operator's grants every time, so neither a withdrawn grant
// nor a revoked family can be revived by a still-valid access token.
import { randomUUID } from 'node:crypto';
import type { Sql, Transactor } from '../domain/ports.ts';
import { HeraldError } from '../protocol/index.ts';
import { newSecret, sha256 } from './secrets.ts';

export interface RefreshGrant {
  family_id: string;
  /** Tenant the session started in (its home: grants are read from it). */
  tenant_id: string;
  user_id: string;
  /** Tenant the session acts in now; kept across refreshes. */
  active_tenant: string;
  /**
   * Tenants the session was granted (the active one included): the API key's tenant,
   * the host JWT's `tenants`, or operator grants. Kept across refreshes; a switch may
   * only go to one of them.
   */
  tenants: string[];
}

/** Stores a new refresh token of `grant.family_id` and returns it (only its hash is kept). */
export async function issueRefresh(sql: Sql, grant: RefreshGrant, ttlSec: number): Promise<string> {
  const token = newSecret('hr_');
  await sql.query(
    `INSERT INTO refresh_tokens (id, family_id, tenant_id, user_id, active_tenant, tenants, token_hash, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6::text[], $7, now() + ($8::int * interval '1 second'))`,
    [
      randomUUID(),
      grant.family_id,
      grant.tenant_id,
      grant.user_id,
      grant.active_tenant,
      grant.tenants,
      sha256(token),
      ttlSec,
    ],
  );
  return token;
}

type Outcome =
  | { ok: true; grant: RefreshGrant; token: string }
  | { ok: false; code: 'REFRESH_REUSED' | 'UNAUTHENTICATED' };

/**
 * Consumes `token` and returns the next one with the same user, active
 * tenant and granted tenants. The revocation on reuse commits before the error is raised.
 */
export async function rotateRefresh(
  db: Transactor,
  token: string,
  ttlSec: number,
): Promise<{ grant: RefreshGrant; token: string }> {
  const outcome = await db.transaction<Outcome>(async (tx) => {
    const { rows } = await tx.query<{
      id: string;
      family_id: string;
      tenant_id: string;
      user_id: string;
      active_tenant: string;
      tenants: string[];
      expired: boolean;
      used_at: Date | null;
      revoked_at: Date | null;
    }>(
      `SELECT id, family_id, tenant_id, user_id, active_tenant, tenants, expires_at <= now() AS expired, used_at, revoked_at
         FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE`,
      [sha256(token)],
    );
    const row = rows[0];
    if (!row) return { ok: false, code: 'UNAUTHENTICATED' };
    if (row.used_at) {
      await tx.query(
        'UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL',
        [row.family_id],
      );
      return { ok: false, code: 'REFRESH_REUSED' };
    }
    if (row.revoked_at || row.expired) return { ok: false, code: 'UNAUTHENTICATED' };
    // The user must still exist in the tenant the session acts in.
    const { rows: user } = await tx.query('SELECT 1 FROM users WHERE tenant_id = $1 AND id = $2', [
      row.active_tenant,
      row.user_id,
    ]);
    if (!user[0]) return { ok: false, code: 'UNAUTHENTICATED' };
    // The grant the session acts under must still exist; withdrawn ones leave its list.
    const tenants = await grantedTenants(tx, row.tenant_id, row.user_id);
    if (!tenants.includes(row.active_tenant)) {
      await revokeFamily(tx, row.family_id);
      return { ok: false, code: 'UNAUTHENTICATED' };
    }
    await tx.query('UPDATE refresh_tokens SET used_at = now() WHERE id = $1', [row.id]);
    const grant: RefreshGrant = {
      family_id: row.family_id,
      tenant_id: row.tenant_id,
      user_id: row.user_id,
      active_tenant: row.active_tenant,
      tenants,
    };
    return { ok: true, grant, token: await issueRefresh(tx, grant, ttlSec) };
  });
  if (!outcome.ok) {
    throw new HeraldError(
      outcome.code,
      outcome.code === 'UNAUTHENTICATED' ? 'Invalid refresh token.' : undefined,
    );
  }
  return { grant: outcome.grant, token: outcome.token };
}

/** How many tenants a session lists (its home, then its grants). */
const MAX_LISTED_TENANTS = 50;

/** The tenants a user of `home` may act in now: home, then the operator's grants. */
export async function grantedTenants(sql: Sql, home: string, user: string): Promise<string[]> {
  const { rows } = await sql.query<{ granted_tenant: string }>(
    `SELECT granted_tenant FROM tenant_grants WHERE tenant_id = $1 AND user_id = $2
      ORDER BY granted_tenant LIMIT ${MAX_LISTED_TENANTS - 1}`,
    [home, user],
  );
  return [home, ...rows.map((r) => r.granted_tenant).filter((t) => t !== home)];
}

/**
 * The live state of a session, locked until the transaction ends: its one unused,
 * unrevoked, unexpired refresh token. Null when the family was revoked (reuse, switch,
 * grant withdrawal, logout) or ran out — then no access token of it may start anything.
 */
export async function liveSession(
  tx: Sql,
  familyId: string,
): Promise<Omit<RefreshGrant, 'family_id'> | null> {
  const { rows } = await tx.query<Omit<RefreshGrant, 'family_id'>>(
    `SELECT tenant_id, user_id, active_tenant, tenants FROM refresh_tokens
      WHERE family_id = $1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > now()
      FOR UPDATE`,
    [familyId],
  );
  return rows[0] ?? null;
}

/** Ends a session: every token of the family stops working. */
export async function revokeFamily(sql: Sql, familyId: string): Promise<void> {
  await sql.query(
    'UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL',
    [familyId],
  );
}
