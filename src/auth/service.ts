// Auth and tenancy: tenants and their API keys, the token exchange, refresh
// with rotation, switching the active tenant, and authenticating requests
// (Herald's own access tokens, or the host application's JWTs).
import { randomUUID } from 'node:crypto';
import { type AuditActor, recordAudit } from '../audit/record.ts';
import type { Config } from '../config.ts';
import type { Sql, Transactor } from '../domain/ports.ts';
import { HeraldError } from '../protocol/index.ts';
import { type HostVerifier, hostVerifier } from './host-jwt.ts';
import {
  grantedTenants,
  issueRefresh,
  liveSession,
  type RefreshGrant,
  revokeFamily,
  rotateRefresh,
} from './refresh-tokens.ts';
import { newSecret, sameSecret, sha256 } from './secrets.ts';
import { signingSecret } from './signing-secret.ts';
import { type AccessClaims, type AccessTokens, accessTokens } from './tokens.ts';

/** Who is calling, as established by an access token. */
export interface Principal {
  tenant_id: string;
  user_id: string;
  tenants: string[];
  /** Token expiry, seconds since the epoch. */
  exp: number;
  /** Refresh family (Herald-issued tokens only). */
  sid?: string;
  source: 'herald' | 'host';
}

export interface TokenPair {
  access_token: string;
  refresh_token: string;
  /** Seconds until the access token expires. */
  expires_in: number;
  tenant_id: string;
  user_id: string;
  tenants: string[];
}

const TENANT_ID = /^[a-z0-9][a-z0-9_-]{1,62}$/;

/** A tenant seen to exist is trusted this long before it is looked up again. */
const TENANT_CACHE_MS = 30_000;

export class Auth {
  /** Host users already known to exist (avoids an upsert per request). */
  private readonly knownHostUsers = new Set<string>();
  /** Tenants of Herald tokens seen to exist, with when they were checked. */
  private readonly knownTenants = new Map<string, number>();

  private constructor(
    private readonly db: Transactor,
    private readonly config: Config,
    readonly tokens: AccessTokens,
    private readonly host: HostVerifier | null,
  ) {}

  static async create(db: Transactor, config: Config): Promise<Auth> {
    const secret = await signingSecret(db, config.jwtSecret);
    return new Auth(
      db,
      config,
      accessTokens(secret, config.accessTokenTtlSec),
      config.hostJwt ? hostVerifier(config.hostJwt) : null,
    );
  }

  /** Whether the Bearer is the operator token (never when HERALD_ADMIN_TOKEN is unset). */
  isAdmin(token: string | null): boolean {
    const admin = this.config.adminToken;
    return !!admin && !!token && sameSecret(token, admin);
  }

  /** Operator calls: the Bearer must equal HERALD_ADMIN_TOKEN (unset → operator calls are off). */
  checkAdmin(token: string | null): void {
    const admin = this.config.adminToken;
    if (!admin || !token || !sameSecret(token, admin)) {
      throw new HeraldError(
        'UNAUTHENTICATED',
        admin ? 'Invalid operator token.' : 'HERALD_ADMIN_TOKEN is not set.',
      );
    }
  }

  /** A tenant and its first API key, recorded in its audit log as done by `actor`. */
  async createTenant(
    input: { tenant_id?: string; name?: string } = {},
    actor: AuditActor = { type: 'operator' },
  ): Promise<{ tenant_id: string; api_key: string }> {
    const id = input.tenant_id ?? `tn_${randomUUID().replaceAll('-', '').slice(0, 16)}`;
    if (!TENANT_ID.test(id)) {
      throw new HeraldError('VALIDATION_FAILED', 'tenant_id must be 2-63 characters of a-z, 0-9, _ and -.');
    }
    return this.db.transaction(async (tx) => {
      const { rows } = await tx.query(
        'INSERT INTO tenants (id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING id',
        [id, input.name ?? id],
      );
      if (!rows[0]) throw new HeraldError('CONFLICT', `Tenant ${id} already exists.`);
      const key = await this.createApiKey(id, tx);
      await recordAudit(tx, {
        tenant: id,
        actor,
        action: 'tenant.created',
        target: { type: 'tenant', id },
        details: { name: input.name ?? id, api_key_id: key.id },
      });
      return { tenant_id: id, api_key: key.key };
    });
  }

  /** A new API key for the tenant; only its hash is stored. */
  async createApiKey(tenant: string, sql: Sql = this.db): Promise<{ id: string; key: string }> {
    const key = newSecret('hk_');
    const id = randomUUID();
    await sql.query('INSERT INTO api_keys (id, tenant_id, key_hash) VALUES ($1, $2, $3)', [
      id,
      tenant,
      sha256(key),
    ]);
    return { id, key };
  }

  /** The tenant an API key belongs to. */
  async tenantOfApiKey(key: string | null): Promise<{ tenant_id: string; key_id: string }> {
    if (!key) throw new HeraldError('UNAUTHENTICATED', 'An API key is required.');
    const { rows } = await this.db.query<{ id: string; tenant_id: string }>(
      'SELECT id, tenant_id FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL',
      [sha256(key)],
    );
    if (!rows[0]) throw new HeraldError('UNAUTHENTICATED', 'Invalid API key.');
    return { tenant_id: rows[0].tenant_id, key_id: rows[0].id };
  }

  /**
   * Token exchange: upserts the user in the tenant and starts a session (new refresh family).
   * The session is granted the API key's tenant, plus the tenants the operator granted this
   * user explicitly — never other tenants where the same user id happens to exist: those
   * belong to other customers and may be other people.
   */
  async issue(tenant: string, user: string, displayName?: string | null): Promise<TokenPair> {
    await this.db.query(
      `INSERT INTO users (tenant_id, id, display_name) VALUES ($1, $2, $3)
       ON CONFLICT (tenant_id, id) DO UPDATE SET display_name = COALESCE(EXCLUDED.display_name, users.display_name)`,
      [tenant, user, displayName ?? null],
    );
    this.rememberTenant(tenant); // The user row exists, so its tenant does.
    return this.pair({
      family_id: randomUUID(),
      tenant_id: tenant,
      user_id: user,
      active_tenant: tenant,
      tenants: await grantedTenants(this.db, tenant, user),
    });
  }

  /**
   * Operator call: lets user `user` of `tenant` also act in `granted` (as the user of the same
   * id there) in sessions started from now on. Both tenants and the user must exist.
   */
  async grantTenant(
    tenant: string,
    user: string,
    granted: string,
    actor: AuditActor = { type: 'operator' },
  ): Promise<{ tenants: string[] }> {
    if (tenant === granted) throw new HeraldError('VALIDATION_FAILED', 'A user always has their own tenant.');
    return this.db.transaction((tx) => this.grantIn(tx, tenant, user, granted, actor));
  }

  private async grantIn(
    tx: Sql,
    tenant: string,
    user: string,
    granted: string,
    actor: AuditActor,
  ): Promise<{ tenants: string[] }> {
    const { rows } = await tx.query<{ ok: boolean; added: boolean }>(
      `WITH ok AS (
         SELECT EXISTS (SELECT 1 FROM users WHERE tenant_id = $1 AND id = $2)
            AND EXISTS (SELECT 1 FROM tenants WHERE id = $3) AS ok),
       ins AS (
         INSERT INTO tenant_grants (tenant_id, user_id, granted_tenant)
         SELECT $1, $2, $3 FROM ok WHERE ok.ok ON CONFLICT DO NOTHING RETURNING 1)
       SELECT ok, EXISTS (SELECT 1 FROM ins) AS added FROM ok`,
      [tenant, user, granted],
    );
    if (!rows[0]?.ok) throw new HeraldError('USER_NOT_FOUND', 'No such user, or no such tenant to grant.');
    // In both tenants' logs: the user's home, and the tenant they may now act in.
    if (rows[0].added) await this.auditGrant(tx, 'grant.created', tenant, user, granted, actor);
    const { rows: all } = await tx.query<{ granted_tenant: string }>(
      'SELECT granted_tenant FROM tenant_grants WHERE tenant_id = $1 AND user_id = $2 ORDER BY granted_tenant',
      [tenant, user],
    );
    return { tenants: [tenant, ...all.map((r) => r.granted_tenant)] };
  }

  /**
   * Operator call: withdraws a grant. Sessions that were granted it end (their refresh
   * tokens stop working); access tokens already issued expire on their own.
   */
  async revokeGrant(
    tenant: string,
    user: string,
    granted: string,
    actor: AuditActor = { type: 'operator' },
  ): Promise<{ revoked: boolean }> {
    return this.db.transaction(async (tx) => {
      const { rows } = await tx.query(
        `DELETE FROM tenant_grants WHERE tenant_id = $1 AND user_id = $2 AND granted_tenant = $3 RETURNING 1`,
        [tenant, user, granted],
      );
      await tx.query(
        `UPDATE refresh_tokens SET revoked_at = now()
          WHERE user_id = $2 AND revoked_at IS NULL AND $3 = ANY(tenants) AND $1 = ANY(tenants)`,
        [tenant, user, granted],
      );
      if (rows.length > 0) await this.auditGrant(tx, 'grant.revoked', tenant, user, granted, actor);
      return { revoked: rows.length > 0 };
    });
  }

  private async auditGrant(
    tx: Sql,
    action: 'grant.created' | 'grant.revoked',
    tenant: string,
    user: string,
    granted: string,
    actor: AuditActor,
  ): Promise<void> {
    for (const t of [tenant, granted]) {
      await recordAudit(tx, {
        tenant: t,
        actor,
        action,
        target: { type: 'user', id: user },
        details: { tenant_id: tenant, user_id: user, granted_tenant: granted },
      });
    }
  }

  /** Rotates a refresh token: same user, same active tenant, same granted tenants. */
  async refresh(token: string): Promise<TokenPair> {
    const { grant, token: next } = await rotateRefresh(this.db, token, this.config.refreshTokenTtlSec);
    return this.accessFor(grant, next);
  }

  /**
   * Switches the active tenant, explicitly, to one the session is granted: anything else is
   * FORBIDDEN, whoever else of that id exists there. For Herald's own tokens the session
   * (refresh family, the token's `sid`) must be live and the grant must still exist —
   * checked in the store every time, not taken from the token: a withdrawn grant or a family
   * revoked by reuse detection, logout or an earlier switch is refused with UNAUTHENTICATED
   * or FORBIDDEN. The user is registered in the target tenant on first switch (the grant came
   * from its identity authority). The old session is revoked and a new one begins with the
   * same home tenant. A session switched into from a host JWT has the target as its home:
   * Herald cannot re-check the host's `tenants` later, so moving on takes a new host token.
   */
  async switchTenant(principal: Principal, tenant: string): Promise<TokenPair> {
    if (!principal.tenants.includes(tenant)) {
      throw new HeraldError('FORBIDDEN', 'Your token does not grant access to that tenant.');
    }
    return this.db.transaction(async (tx) => {
      let home = tenant;
      if (principal.source === 'herald') {
        const live = principal.sid ? await liveSession(tx, principal.sid) : null;
        if (!live || live.user_id !== principal.user_id) {
          throw new HeraldError('UNAUTHENTICATED', 'The session has ended; sign in again.');
        }
        home = live.tenant_id;
        if (!(await grantedTenants(tx, home, principal.user_id)).includes(tenant)) {
          throw new HeraldError('FORBIDDEN', 'The grant to that tenant was withdrawn.');
        }
      }
      const { rows } = await tx.query<{ ok: boolean }>(
        `WITH t AS (SELECT id FROM tenants WHERE id = $1),
         ins AS (INSERT INTO users (tenant_id, id) SELECT t.id, $2 FROM t ON CONFLICT DO NOTHING)
         SELECT EXISTS (SELECT 1 FROM t) AS ok`,
        [tenant, principal.user_id],
      );
      if (!rows[0]?.ok) throw new HeraldError('FORBIDDEN', 'No such tenant.');
      if (principal.sid) await revokeFamily(tx, principal.sid);
      return this.pair(
        {
          family_id: randomUUID(),
          tenant_id: home,
          user_id: principal.user_id,
          active_tenant: tenant,
          tenants: await grantedTenants(tx, home, principal.user_id),
        },
        tx,
      );
    });
  }

  /** Verifies a Bearer access token: Herald's own first, then the host's when configured. */
  async authenticate(token: string | null): Promise<Principal> {
    if (!token) throw new HeraldError('UNAUTHENTICATED');
    let claims: AccessClaims | null = null;
    try {
      claims = await this.tokens.verify(token);
    } catch (err) {
      if (!this.host || (err instanceof HeraldError && err.code === 'TOKEN_EXPIRED')) throw err;
    }
    if (claims) {
      await this.ensureTenant(claims.tenant_id);
      return { ...claims, source: 'herald' };
    }
    if (!this.host) throw new HeraldError('UNAUTHENTICATED', 'Invalid access token.');
    const host = await this.host(token);
    await this.ensureHostUser(host.tenant_id, host.user_id);
    return { ...host, source: 'host' };
  }

  /**
   * A validly signed token may still name a tenant that is gone (deleted by an operator):
   * refused like an unknown tenant of a host JWT, the same for HTTP, SSE and WebSocket.
   */
  private async ensureTenant(tenant: string): Promise<void> {
    const now = Date.now();
    const at = this.knownTenants.get(tenant);
    if (at !== undefined && now - at < TENANT_CACHE_MS) return;
    const { rows } = await this.db.query('SELECT 1 FROM tenants WHERE id = $1', [tenant]);
    if (!rows[0]) {
      this.knownTenants.delete(tenant);
      throw new HeraldError('UNAUTHENTICATED', 'The token names an unknown tenant.');
    }
    this.rememberTenant(tenant, now);
  }

  private rememberTenant(tenant: string, now = Date.now()): void {
    if (this.knownTenants.size > 50_000) this.knownTenants.clear();
    this.knownTenants.set(tenant, now);
  }

  /** Host tokens name users Herald may not know yet: register them on first sight. */
  private async ensureHostUser(tenant: string, user: string): Promise<void> {
    const key = `${tenant}\0${user}`;
    if (this.knownHostUsers.has(key)) return;
    const { rows } = await this.db.query<{ ok: boolean }>(
      `WITH t AS (SELECT id FROM tenants WHERE id = $1),
       ins AS (INSERT INTO users (tenant_id, id) SELECT t.id, $2 FROM t ON CONFLICT DO NOTHING)
       SELECT EXISTS (SELECT 1 FROM t) AS ok`,
      [tenant, user],
    );
    if (!rows[0]?.ok) throw new HeraldError('UNAUTHENTICATED', 'The token names an unknown tenant.');
    if (this.knownHostUsers.size > 50_000) this.knownHostUsers.clear();
    this.knownHostUsers.add(key);
  }

  private async pair(grant: RefreshGrant, sql: Sql = this.db): Promise<TokenPair> {
    const refresh = await issueRefresh(sql, grant, this.config.refreshTokenTtlSec);
    return this.accessFor(grant, refresh);
  }

  /** Mints the access token of a session: its tenants are the grant's, active first. */
  private async accessFor(grant: RefreshGrant, refresh: string): Promise<TokenPair> {
    const active = grant.active_tenant;
    const tenants = [active, ...grant.tenants.filter((t) => t !== active)];
    const ttl = this.config.accessTokenTtlSec;
    const { token } = await this.tokens.mint(
      { tenant_id: active, user_id: grant.user_id, tenants, sid: grant.family_id },
      ttl,
    );
    return {
      access_token: token,
      refresh_token: refresh,
      expires_in: ttl,
      tenant_id: active,
      user_id: grant.user_id,
      tenants,
    };
  }
}
