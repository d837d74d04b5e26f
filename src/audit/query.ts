// The audit log's read side: a tenant's entries, newest first, keyset by id, with filters.
// Every statement filters by tenant: another tenant's entries are never visible.
import type { Row, Sql } from '../domain/ports.ts';
import { iso } from '../domain/rows.ts';
import { HeraldError } from '../protocol/index.ts';

export interface AuditRecord {
  id: string;
  at: string;
  actor: { type: string; id: string | null };
  action: string;
  target: { type: string; id: string } | null;
  recipients: number | null;
  details: Record<string, unknown> | null;
  trace_id: string | null;
}

export interface AuditFilter {
  /** An action (`webhook.disabled`) or a family (`webhook.`: every action it starts). */
  action?: string;
  actor_type?: string;
  actor_id?: string;
  target_id?: string;
  /** RFC 3339, inclusive / exclusive. */
  since?: string;
  until?: string;
  /** `next_before` of the previous page. */
  before?: string;
  limit: number;
}

const ID = /^[1-9][0-9]{0,17}$/;

function time(v: string | undefined, what: string): string | null {
  if (v === undefined) return null;
  if (Number.isNaN(Date.parse(v)))
    throw new HeraldError('VALIDATION_FAILED', `${what} must be an RFC 3339 time.`);
  return new Date(v).toISOString();
}

function toRecord(r: Row): AuditRecord {
  return {
    id: String(r.id),
    at: iso(r.at),
    actor: { type: r.actor_type as string, id: (r.actor_id as string | null) ?? null },
    action: r.action as string,
    target: r.target_type == null ? null : { type: r.target_type as string, id: r.target_id as string },
    recipients: r.recipients == null ? null : Number(r.recipients),
    details: (r.details as Record<string, unknown> | null) ?? null,
    trace_id: (r.trace_id as string | null) ?? null,
  };
}

export async function listAudit(
  sql: Sql,
  tenant: string,
  f: AuditFilter,
): Promise<{ entries: AuditRecord[]; next_before: string | null }> {
  if (f.before !== undefined && !ID.test(f.before))
    throw new HeraldError('VALIDATION_FAILED', 'before must be the next_before of a previous page.');
  const family = f.action?.endsWith('.') ?? false;
  const { rows } = await sql.query(
    `SELECT * FROM audit_log
      WHERE tenant_id = $1
        AND ($2::bigint IS NULL OR id < $2::bigint)
        AND ($3::text IS NULL OR (CASE WHEN $4::boolean THEN starts_with(action, $3) ELSE action = $3 END))
        AND ($5::text IS NULL OR actor_type = $5)
        AND ($6::text IS NULL OR actor_id = $6)
        AND ($7::text IS NULL OR target_id = $7)
        AND ($8::timestamptz IS NULL OR at >= $8::timestamptz)
        AND ($9::timestamptz IS NULL OR at < $9::timestamptz)
      ORDER BY id DESC LIMIT $10`,
    [
      tenant,
      f.before ?? null,
      f.action ?? null,
      family,
      f.actor_type ?? null,
      f.actor_id ?? null,
      f.target_id ?? null,
      time(f.since, 'since'),
      time(f.until, 'until'),
      f.limit + 1,
    ],
  );
  const page = rows.slice(0, f.limit).map(toRecord);
  return { entries: page, next_before: rows.length > f.limit ? page[page.length - 1].id : null };
}
