// A user's push devices: register (idempotent per token), list, get, delete. Every statement
// filters by tenant and user: another user's device id is DEVICE_NOT_FOUND.
import { randomUUID } from 'node:crypto';
import { HeraldError } from '../protocol/index.ts';
import type { Row, Sql } from '../store/db.ts';
import type { AddressPolicy } from '../webhooks/address-policy.ts';

export const PUSH_PLATFORMS = ['webpush', 'fcm', 'apns'] as const;
export type PushPlatform = (typeof PUSH_PLATFORMS)[number];

export interface WebPushKeys {
  p256dh: string;
  auth: string;
}

export interface Device {
  id: string;
  platform: PushPlatform;
  /** FCM / APNs token, or the Web Push endpoint. */
  token: string;
  locale: string | null;
  created_at: string;
  updated_at: string;
  last_sent_at: string | null;
  /** Set when a provider said the token is dead; the device gets no more pushes. */
  removed_at: string | null;
  removed_reason: string | null;
}

/** What the dispatcher needs to address a device (never sent to clients: keys included). */
export interface DeviceTarget {
  id: string;
  tenant_id: string;
  user_id: string;
  platform: PushPlatform;
  token: string;
  keys: WebPushKeys | null;
  locale: string | null;
}

export interface DeviceInput {
  platform: PushPlatform;
  token?: string;
  subscription?: { endpoint: string; keys: WebPushKeys; expirationTime?: number | null };
  locale?: string;
}

const iso = (v: unknown) => (v == null ? null : new Date(v as string).toISOString());

export function toDevice(r: Row): Device {
  return {
    id: r.id as string,
    platform: r.platform as PushPlatform,
    token: r.token as string,
    locale: (r.locale as string | null) ?? null,
    created_at: iso(r.created_at) as string,
    updated_at: iso(r.updated_at) as string,
    last_sent_at: iso(r.last_sent_at),
    removed_at: iso(r.removed_at),
    removed_reason: (r.removed_reason as string | null) ?? null,
  };
}

export function toTarget(r: Row): DeviceTarget {
  return {
    id: r.id as string,
    tenant_id: r.tenant_id as string,
    user_id: r.user_id as string,
    platform: r.platform as PushPlatform,
    token: r.token as string,
    keys: (r.keys as WebPushKeys | null) ?? null,
    locale: (r.locale as string | null) ?? null,
  };
}

const APNS_TOKEN = /^[0-9a-fA-F]{64,200}$/;
const FCM_TOKEN = /^[A-Za-z0-9_:.-]{20,4096}$/;
const B64URL = /^[A-Za-z0-9_-]+={0,2}$/;

function bytesOf(b64url: string): Buffer | null {
  return B64URL.test(b64url) ? Buffer.from(b64url.replace(/=+$/, ''), 'base64url') : null;
}

function bad(message: string): HeraldError {
  return new HeraldError('VALIDATION_FAILED', message);
}

/** The token and keys of a registration, checked per platform. */
async function parse(
  policy: AddressPolicy,
  input: DeviceInput,
): Promise<{ token: string; keys: WebPushKeys | null }> {
  if (input.platform === 'webpush') {
    if (!input.subscription || input.token !== undefined)
      throw bad('platform webpush takes `subscription` (from PushManager.subscribe), not `token`.');
    const { endpoint, keys } = input.subscription;
    const p256dh = bytesOf(keys.p256dh);
    // An uncompressed P-256 point, and a 16-byte auth secret (RFC 8291).
    if (p256dh?.length !== 65 || p256dh[0] !== 4)
      throw bad('subscription.keys.p256dh must be a base64url P-256 public key (65 bytes).');
    if (bytesOf(keys.auth)?.length !== 16)
      throw bad('subscription.keys.auth must be a base64url 16-byte secret.');
    try {
      await policy.check(endpoint);
    } catch (err) {
      if (err instanceof HeraldError && err.code === 'WEBHOOK_URL_REFUSED')
        throw new HeraldError('PUSH_ENDPOINT_REFUSED', err.message.replace('webhook', 'push'));
      throw err;
    }
    return { token: endpoint, keys: { p256dh: keys.p256dh, auth: keys.auth } };
  }
  if (input.subscription !== undefined || input.token === undefined)
    throw bad(`platform ${input.platform} takes \`token\`, not \`subscription\`.`);
  const ok = input.platform === 'apns' ? APNS_TOKEN : FCM_TOKEN;
  if (!ok.test(input.token))
    throw bad(
      input.platform === 'apns'
        ? 'token must be the APNs device token in hex (64 or more hex digits).'
        : 'token must be an FCM registration token.',
    );
  return { token: input.token, keys: null };
}

/**
 * Registers a device, or refreshes the registration of the same token (same id; a token
 * that moved to another user of the tenant — a shared phone — moves with it, and a removed
 * one is live again). Beyond `maxPerUser` the least recently registered device is dropped.
 */
export async function registerDevice(
  sql: Sql,
  policy: AddressPolicy,
  tenant: string,
  user: string,
  input: DeviceInput,
  opts: { maxPerUser: number; configured: (p: PushPlatform) => boolean },
): Promise<{ device: Device; created: boolean }> {
  if (!opts.configured(input.platform))
    throw new HeraldError(
      'PUSH_NOT_CONFIGURED',
      `This server has no ${input.platform} credentials (docs/push.md#${input.platform}).`,
    );
  const { token, keys } = await parse(policy, input);
  const { rows } = await sql.query(
    `INSERT INTO push_devices AS d (tenant_id, id, user_id, platform, token, keys, locale)
     VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7)
     ON CONFLICT (tenant_id, platform, token) DO UPDATE SET
       user_id = EXCLUDED.user_id, keys = EXCLUDED.keys, locale = COALESCE(EXCLUDED.locale, d.locale),
       updated_at = now(), removed_at = NULL, removed_reason = NULL
     RETURNING *, (xmax = 0) AS created`,
    [
      tenant,
      `dev_${randomUUID().replaceAll('-', '')}`,
      user,
      input.platform,
      token,
      keys ? JSON.stringify(keys) : null,
      input.locale ?? null,
    ],
  );
  const row = rows[0];
  await sql.query(
    `DELETE FROM push_devices WHERE tenant_id = $1 AND id IN (
       SELECT id FROM push_devices WHERE tenant_id = $1 AND user_id = $2 AND removed_at IS NULL
        ORDER BY updated_at DESC, id DESC OFFSET $3)`,
    [tenant, user, opts.maxPerUser],
  );
  return { device: toDevice(row), created: row.created as boolean };
}

/** The user's live devices, newest registration first. */
export async function listDevices(sql: Sql, tenant: string, user: string): Promise<Device[]> {
  const { rows } = await sql.query(
    `SELECT * FROM push_devices WHERE tenant_id = $1 AND user_id = $2 AND removed_at IS NULL
      ORDER BY updated_at DESC, id DESC`,
    [tenant, user],
  );
  return rows.map(toDevice);
}

/** One of the user's devices, removed ones included (their log says why). */
export async function getDevice(sql: Sql, tenant: string, user: string, id: string): Promise<Row> {
  const { rows } = await sql.query(
    'SELECT * FROM push_devices WHERE tenant_id = $1 AND user_id = $2 AND id = $3',
    [tenant, user, id],
  );
  if (!rows[0]) throw new HeraldError('DEVICE_NOT_FOUND');
  return rows[0];
}

/** Deletes the device and its delivery log. */
export async function deleteDevice(sql: Sql, tenant: string, user: string, id: string): Promise<void> {
  const { rows } = await sql.query(
    'DELETE FROM push_devices WHERE tenant_id = $1 AND user_id = $2 AND id = $3 RETURNING id',
    [tenant, user, id],
  );
  if (!rows[0]) throw new HeraldError('DEVICE_NOT_FOUND');
}

/** A provider said the token is dead: no more pushes to it; the log stays until pruned. */
export async function markRemoved(sql: Sql, tenant: string, id: string, reason: string): Promise<void> {
  await sql.query(
    `UPDATE push_devices SET removed_at = now(), removed_reason = $3
      WHERE tenant_id = $1 AND id = $2 AND removed_at IS NULL`,
    [tenant, id, reason],
  );
}
