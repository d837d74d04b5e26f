// Webhook endpoints of a tenant: create, list, get, update, rotate the secret, delete.
// Every statement filters by tenant: another tenant's endpoint id is WEBHOOK_NOT_FOUND.
import { randomBytes, randomUUID } from 'node:crypto';
import { type AuditActor, type AuditEntry, auditInsertSql, auditParam } from '../audit/record.ts';
import { HeraldError } from '../protocol/index.ts';
import type { Row, Sql } from '../store/db.ts';
import type { AddressPolicy } from './address-policy.ts';
import type { WebhookEventType } from './events.ts';

export interface WebhookEndpoint {
  id: string;
  url: string;
  events: WebhookEventType[];
  conversation: string | null;
  enabled: boolean;
  disabled_reason: string | null;
  disabled_at: string | null;
  failing_since: string | null;
  created_at: string;
  updated_at: string;
}

/** Standard Webhooks secrets: `whsec_` + base64 of 24–64 random bytes. */
const SECRET = /^whsec_[A-Za-z0-9+/]+={0,2}$/;

export function generateSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

function checkSecret(secret: string): void {
  const bytes = SECRET.test(secret) ? Buffer.from(secret.slice(6), 'base64').length : 0;
  if (bytes < 24 || bytes > 64)
    throw new HeraldError('VALIDATION_FAILED', 'secret must be whsec_ followed by base64 of 24–64 bytes.');
}

const iso = (v: unknown) => (v == null ? null : new Date(v as string).toISOString());

function toEndpoint(r: Row): WebhookEndpoint {
  return {
    id: r.id as string,
    url: r.url as string,
    events: r.events as WebhookEventType[],
    conversation: (r.conversation_id as string | null) ?? null,
    enabled: r.enabled as boolean,
    disabled_reason: (r.disabled_reason as string | null) ?? null,
    disabled_at: iso(r.disabled_at),
    failing_since: iso(r.failing_since),
    created_at: iso(r.created_at) as string,
    updated_at: iso(r.updated_at) as string,
  };
}

export interface EndpointInput {
  url: string;
  secret?: string;
  events: WebhookEventType[];
  conversation?: string | null;
}

/** The audit record of a change to endpoint `id` (never its secret), written with the change. */
function audited(
  tenant: string,
  actor: AuditActor | undefined,
  action: AuditEntry['action'],
  id: string,
  details?: Record<string, unknown>,
): string | null {
  return actor ? auditParam({ tenant, actor, action, target: { type: 'webhook', id }, details }) : null;
}

async function checkConversation(sql: Sql, tenant: string, id: string | null | undefined): Promise<void> {
  if (!id) return;
  const { rows } = await sql.query('SELECT 1 FROM conversations WHERE tenant_id = $1 AND id = $2', [
    tenant,
    id,
  ]);
  if (!rows[0]) throw new HeraldError('CONVERSATION_NOT_FOUND');
}

export async function createEndpoint(
  sql: Sql,
  policy: AddressPolicy,
  tenant: string,
  input: EndpointInput,
  actor?: AuditActor,
): Promise<{ endpoint: WebhookEndpoint; secret: string }> {
  await policy.check(input.url);
  if (input.secret !== undefined) checkSecret(input.secret);
  await checkConversation(sql, tenant, input.conversation);
  const secret = input.secret ?? generateSecret();
  const id = `wh_${randomUUID().replaceAll('-', '')}`;
  const events = [...new Set(input.events)];
  const conversation = input.conversation ?? null;
  const { rows } = await sql.query(
    `WITH w AS (
       INSERT INTO webhook_endpoints (tenant_id, id, url, secret, events, conversation_id)
       VALUES ($1, $2, $3, $4, $5::text[], $6) RETURNING *),
     audit AS (${auditInsertSql('$7', 'w')} WHERE $7::jsonb IS NOT NULL)
     SELECT * FROM w`,
    [
      tenant,
      id,
      input.url,
      secret,
      events,
      conversation,
      audited(tenant, actor, 'webhook.created', id, { url: input.url, events, conversation }),
    ],
  );
  return { endpoint: toEndpoint(rows[0]), secret };
}

export async function listEndpoints(sql: Sql, tenant: string): Promise<WebhookEndpoint[]> {
  const { rows } = await sql.query(
    'SELECT * FROM webhook_endpoints WHERE tenant_id = $1 ORDER BY created_at, id LIMIT 1000',
    [tenant],
  );
  return rows.map(toEndpoint);
}

export async function getEndpoint(sql: Sql, tenant: string, id: string): Promise<WebhookEndpoint> {
  const { rows } = await sql.query('SELECT * FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2', [
    tenant,
    id,
  ]);
  if (!rows[0]) throw new HeraldError('WEBHOOK_NOT_FOUND');
  return toEndpoint(rows[0]);
}

export interface EndpointPatch {
  url?: string;
  events?: WebhookEventType[];
  conversation?: string | null;
  enabled?: boolean;
}

/**
 * Changes an endpoint. `enabled: true` re-enables a disabled one (its pending deliveries go
 * out again, in order) and clears the failure record; `enabled: false` stops deliveries and
 * stops enqueuing new events for it until re-enabled.
 */
export async function updateEndpoint(
  sql: Sql,
  policy: AddressPolicy,
  tenant: string,
  id: string,
  patch: EndpointPatch,
  actor?: AuditActor,
): Promise<WebhookEndpoint> {
  if (patch.url !== undefined) await policy.check(patch.url);
  await checkConversation(sql, tenant, patch.conversation);
  const { rows } = await sql.query(
    `WITH w AS (UPDATE webhook_endpoints SET
       url = COALESCE($3::text, url),
       events = COALESCE($4::text[], events),
       conversation_id = CASE WHEN $5::boolean THEN $6::text ELSE conversation_id END,
       enabled = COALESCE($7::boolean, enabled),
       disabled_reason = CASE WHEN $7::boolean IS NULL THEN disabled_reason WHEN $7::boolean THEN NULL ELSE 'manual' END,
       disabled_at = CASE WHEN $7::boolean IS NULL THEN disabled_at WHEN $7::boolean THEN NULL
                          ELSE COALESCE(disabled_at, now()) END,
       failing_since = CASE WHEN $7::boolean THEN NULL ELSE failing_since END,
       updated_at = now()
     WHERE tenant_id = $1 AND id = $2 RETURNING *),
     audit AS (${auditInsertSql('$8', 'w')} WHERE $8::jsonb IS NOT NULL)
     SELECT * FROM w`,
    [
      tenant,
      id,
      patch.url ?? null,
      patch.events ? [...new Set(patch.events)] : null,
      patch.conversation !== undefined,
      patch.conversation ?? null,
      patch.enabled ?? null,
      audited(tenant, actor, 'webhook.updated', id, { ...patch }),
    ],
  );
  if (!rows[0]) throw new HeraldError('WEBHOOK_NOT_FOUND');
  return toEndpoint(rows[0]);
}

/** A new secret (given or generated); deliveries from now on are signed with it. */
export async function rotateSecret(
  sql: Sql,
  tenant: string,
  id: string,
  given?: string,
  actor?: AuditActor,
): Promise<{ endpoint: WebhookEndpoint; secret: string }> {
  if (given !== undefined) checkSecret(given);
  const secret = given ?? generateSecret();
  const { rows } = await sql.query(
    `WITH w AS (
       UPDATE webhook_endpoints SET secret = $3, updated_at = now() WHERE tenant_id = $1 AND id = $2 RETURNING *),
     audit AS (${auditInsertSql('$4', 'w')} WHERE $4::jsonb IS NOT NULL)
     SELECT * FROM w`,
    [tenant, id, secret, audited(tenant, actor, 'webhook.secret_rotated', id)],
  );
  if (!rows[0]) throw new HeraldError('WEBHOOK_NOT_FOUND');
  return { endpoint: toEndpoint(rows[0]), secret };
}

/** Deletes the endpoint and its delivery log. */
export async function deleteEndpoint(
  sql: Sql,
  tenant: string,
  id: string,
  actor?: AuditActor,
): Promise<void> {
  const { rows } = await sql.query(
    `WITH w AS (DELETE FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2 RETURNING id, url),
     audit AS (${auditInsertSql('$3', 'w')} WHERE $3::jsonb IS NOT NULL)
     SELECT id FROM w`,
    [tenant, id, audited(tenant, actor, 'webhook.deleted', id)],
  );
  if (!rows[0]) throw new HeraldError('WEBHOOK_NOT_FOUND');
}
