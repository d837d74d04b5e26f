// Auth and tenancy: tenants and their API keys, the token exchange, refresh
// with rotation, switching the active tenant, and authenticating requests
// (Herald's own access tokens, or the host application's JWTs).
import { randomUUID } from 'node:crypto';
import type { Config } from '../config.ts';
import type { Transactor } from '../domain/ports.ts';
import { HeraldError } from '../protocol/index.ts';
import { type HostVerifier, hostVerifier } from './host-jwt.ts';
import { issueRefresh, revokeFamily, rotateRefresh } from './refresh-tokens.ts';
import { newSecret, sameSecret, sha256 } from './secrets.ts';
import { signingSecret } from './signing-secret.ts';
import { type AccessTokens, accessTokens } from './tokens.ts';

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

/** How many tenants a token lists; a user in more can still switch to any of them explicitly. */
const MAX_LISTED_TENANTS = 50;
const TENANT_ID = /^[a-z0-9][a-z0-9_-]{1,62}$/;

export class Auth {
  /** Host users already known to exist (avoids an upsert per request). */
  private readonly knownHostUsers = new Set<string>();

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

  async createTenant(
    input: { tenant_id?: string; name?: string } = {},
  ): Promise<{ tenant_id: string; api_key: string }> {
    const id = input.tenant_id ?? `tn_${randomUUID().replaceAll('-', '').slice(0, 16)}`;
    if (!TENANT_ID.test(id)) {
      throw new HeraldError('VALIDATION_FAILED', 'tenant_id must be 2-63 characters of a-z, 0-9, _ and -.');
    }
    const { rows } = await this.db.query(
      'INSERT INTO tenants (id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING id',
      [id, input.name ?? id],
    );
    if (!rows[0]) throw new HeraldError('CONFLICT', `Tenant ${id} already exists.`);
    return { tenant_id: id, api_key: await this.createApiKey(id) };
  }

  /** A new API key for the tenant; only its hash is stored. */
  async createApiKey(tenant: string): Promise<string> {
    const key = newSecret('hk_');
    await this.db.query('INSERT INTO api_keys (id, tenant_id, key_hash) VALUES ($1, $2, $3)', [
      randomUUID(),
      tenant,
      sha256(key),
    ]);
    return key;
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

  /** Token exchange: upserts the user in the tenant and starts a session (new refresh family). */
  async issue(tenant: string, user: string, displayName?: string | null): Promise<TokenPair> {
    await this.db.query(
      `INSERT INTO users (tenant_id, id, display_name) VALUES ($1, $2, $3)
       ON CONFLICT (tenant_id, id) DO UPDATE SET display_name = COALESCE(EXCLUDED.display_name, users.display_name)`,
      [tenant, user, displayName ?? null],
    );
    return this.pair({ family_id: randomUUID(), tenant_id: tenant, user_id: user, active_tenant: tenant });
  }

  /** Rotates a refresh token: same user, same active tenant. */
  async refresh(token: string): Promise<TokenPair> {
    const { grant, token: next } = await rotateRefresh(this.db, token, this.config.refreshTokenTtlSec);
    return this.accessFor(grant.user_id, grant.active_tenant, grant.family_id, next);
  }

  /**
   * Switches the active tenant, explicitly: the user must exist in the
   * target tenant. The old session is revoked and a new one begins.
   */
  async switchTenant(principal: Principal, tenant: string): Promise<TokenPair> {
    const { rows } = await this.db.query('SELECT 1 FROM users WHERE tenant_id = $1 AND id = $2', [
      tenant,
      principal.user_id,
    ]);
    if (!rows[0]) throw new HeraldError('FORBIDDEN', 'You are not a user of that tenant.');
    if (principal.sid) await revokeFamily(this.db, principal.sid);
    return this.pair({
      family_id: randomUUID(),
      tenant_id: tenant,
      user_id: principal.user_id,
      active_tenant: tenant,
    });
  }

  /** Verifies a Bearer access token: Herald's own first, then the host's when configured. */
  async authenticate(token: string | null): Promise<Principal> {
    if (!token) throw new HeraldError('UNAUTHENTICATED');
    try {
      const claims = await this.tokens.verify(token);
      return { ...claims, source: 'herald' };
    } catch (err) {
      if (!this.host || (err instanceof HeraldError && err.code === 'TOKEN_EXPIRED')) throw err;
    }
    const claims = await this.host(token);
    await this.ensureHostUser(claims.tenant_id, claims.user_id);
    return { ...claims, source: 'host' };
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

  private async pair(grant: {
    family_id: string;
    tenant_id: string;
    user_id: string;
    active_tenant: string;
  }): Promise<TokenPair> {
    const refresh = await issueRefresh(this.db, grant, this.config.refreshTokenTtlSec);
    return this.accessFor(grant.user_id, grant.active_tenant, grant.family_id, refresh);
  }

  private async accessFor(user: string, active: string, sid: string, refresh: string): Promise<TokenPair> {
    const { rows } = await this.db.query<{ tenant_id: string }>(
      `SELECT tenant_id FROM users WHERE id = $1 ORDER BY tenant_id = $2 DESC, tenant_id LIMIT ${MAX_LISTED_TENANTS}`,
      [user, active],
    );
    const tenants = rows.map((r) => r.tenant_id);
    const ttl = this.config.accessTokenTtlSec;
    const { token } = await this.tokens.mint({ tenant_id: active, user_id: user, tenants, sid }, ttl);
    return {
      access_token: token,
      refresh_token: refresh,
      expires_in: ttl,
      tenant_id: active,
      user_id: user,
      tenants,
    };
  }
}
