// The few reads the gateway makes from the store: access checks, replay
// from the events table, tenant origins. Everything is tenant-scoped.
import { mayRead, mayReadSql } from '../domain/access.ts';
import type { Sql } from '../domain/ports.ts';
import type { ConversationKind } from '../protocol/model.ts';

export interface Access {
  kind: ConversationKind;
  member_count: number;
  /** A member, or any user of the tenant for tenant-wide announcements. */
  allowed: boolean;
  /**
   * The conversation's last seq in the same snapshot as `allowed`: a `left` of this user at or
   * below it is history (they were re-added since), above it the membership ended after the check.
   */
  head: number;
}

/** null: no such conversation in this tenant (a leaked id from another tenant looks the same). */
export async function conversationAccess(
  db: Sql,
  tenant: string,
  conversation: string,
  user: string,
): Promise<Access | null> {
  const { rows } = await db.query<{
    kind: ConversationKind;
    audience: string;
    member_count: number;
    last_seq: number;
    member: boolean;
  }>(
    `SELECT c.kind, c.audience, c.member_count, c.last_seq, (m.user_id IS NOT NULL) AS member
       FROM conversations c
       LEFT JOIN members m ON m.tenant_id = c.tenant_id AND m.conversation_id = c.id AND m.user_id = $3
      WHERE c.tenant_id = $1 AND c.id = $2`,
    [tenant, conversation, user],
  );
  const r = rows[0];
  if (!r) return null;
  return {
    kind: r.kind,
    member_count: Number(r.member_count),
    allowed: mayRead(r, r.member),
    head: Number(r.last_seq),
  };
}

export interface Replay {
  head: number;
  /** Serialized `event` frames, in seq order. */
  events: { seq: number; frame: string }[];
}

/**
 * Events (since, since+limit] and the head, read in one statement so both
 * come from one snapshot. Frames are assembled from the stored payload text:
 * no parse and re-serialize of the event.
 */
export async function replayEvents(
  db: Sql,
  tenant: string,
  conversation: string,
  since: number,
  limit: number,
): Promise<Replay> {
  const { rows } = await db.query<{ head: number; seq: number | null; payload: string | null }>(
    `SELECT c.last_seq AS head, e.seq, e.payload
       FROM conversations c
       LEFT JOIN LATERAL (
         SELECT seq, payload::text AS payload FROM events
          WHERE tenant_id = c.tenant_id AND conversation_id = c.id AND seq > $3
          ORDER BY seq LIMIT $4) e ON true
      WHERE c.tenant_id = $1 AND c.id = $2
      ORDER BY e.seq`,
    [tenant, conversation, since, limit],
  );
  if (rows.length === 0) return { head: 0, events: [] };
  return { head: Number(rows[0].head), events: eventFrames(conversation, rows) };
}

/**
 * A subscribe's one read: the access check and the replay (since, since+limit] with the head,
 * in one statement and so one snapshot. Events are read only when the user may see them.
 * since null: only the head (live from now). null: no such conversation in this tenant.
 */
export async function subscribeRead(
  db: Sql,
  tenant: string,
  conversation: string,
  user: string,
  since: number | null,
  limit: number,
): Promise<{ access: Access; replay: Replay } | null> {
  const { rows } = await db.query<{
    kind: ConversationKind;
    audience: string;
    member_count: number;
    last_seq: number;
    member: boolean;
    seq: number | null;
    payload: string | null;
  }>(
    `SELECT c.kind, c.audience, c.member_count, c.last_seq, (m.user_id IS NOT NULL) AS member, e.seq, e.payload
       FROM conversations c
       LEFT JOIN members m ON m.tenant_id = c.tenant_id AND m.conversation_id = c.id AND m.user_id = $3
       LEFT JOIN LATERAL (
         SELECT seq, payload::text AS payload FROM events
          WHERE tenant_id = c.tenant_id AND conversation_id = c.id AND seq > $4
            AND ${mayReadSql('c', 'm')}
          ORDER BY seq LIMIT $5) e ON true
      WHERE c.tenant_id = $1 AND c.id = $2
      ORDER BY e.seq`,
    [tenant, conversation, user, since ?? 0, since === null ? 0 : limit],
    { name: 'herald_subscribe_read' },
  );
  const r = rows[0];
  if (!r) return null;
  const head = Number(r.last_seq);
  const access: Access = {
    kind: r.kind,
    member_count: Number(r.member_count),
    allowed: mayRead(r, r.member),
    head,
  };
  return { access, replay: { head, events: eventFrames(conversation, rows) } };
}

function eventFrames(
  conversation: string,
  rows: readonly { seq: number | null; payload: string | null }[],
): Replay['events'] {
  const conv = JSON.stringify(conversation);
  const events: Replay['events'] = [];
  for (const r of rows) {
    if (r.seq == null || r.payload == null) continue;
    const seq = Number(r.seq);
    events.push({ seq, frame: `{"type":"event","conversation":${conv},"seq":${seq},"event":${r.payload}}` });
  }
  return events;
}

/** null: no such tenant. */
export async function tenantOrigins(db: Sql, tenant: string): Promise<string[] | null> {
  const { rows } = await db.query<{ allowed_origins: string[] }>(
    'SELECT allowed_origins FROM tenants WHERE id = $1',
    [tenant],
  );
  return rows[0] ? rows[0].allowed_origins : null;
}

export async function memberIdsOf(
  db: Sql,
  tenant: string,
  conversation: string,
  limit: number,
): Promise<string[]> {
  const { rows } = await db.query<{ user_id: string }>(
    'SELECT user_id FROM members WHERE tenant_id = $1 AND conversation_id = $2 LIMIT $3',
    [tenant, conversation, limit],
  );
  return rows.map((r) => r.user_id);
}

/**
 * The user's channel memberships, each with whether it is large (more than `threshold`
 * members: DESIGN §6, no inbox row per message). One read per connection (inbox-hints.ts).
 */
export async function channelMemberships(
  db: Sql,
  tenant: string,
  user: string,
  threshold: number,
): Promise<{ conversation: string; large: boolean }[]> {
  const { rows } = await db.query<{ id: string; large: boolean }>(
    `SELECT c.id, c.member_count > $3 AS large
       FROM members m JOIN conversations c ON c.tenant_id = m.tenant_id AND c.id = m.conversation_id
      WHERE m.tenant_id = $1 AND m.user_id = $2 AND c.kind = 'channel'`,
    [tenant, user, threshold],
    { name: 'herald_channel_memberships' },
  );
  return rows.map((r) => ({ conversation: r.id, large: r.large === true }));
}

/** Which of the channels `ids` of the tenant have more than `threshold` members now. */
export async function largeChannelsAmong(
  db: Sql,
  tenant: string,
  ids: readonly string[],
  threshold: number,
): Promise<Set<string>> {
  const { rows } = await db.query<{ id: string }>(
    `SELECT id FROM conversations
      WHERE tenant_id = $1 AND id = ANY($2::text[]) AND kind = 'channel' AND member_count > $3`,
    [tenant, ids, threshold],
  );
  return new Set(rows.map((r) => r.id));
}
