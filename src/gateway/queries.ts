// The gateway's view of the store's live reads (DomainDeps.reads → LiveReader, src/store/pg):
// the access decision on the row it returns (the domain's `mayRead`), and replayed events as
// `event` frames assembled from the stored payload text. Plus the few reads of its own: tenant
// origins and member ids. Everything is tenant-scoped.
import { mayRead } from '../domain/access.ts';
import type { Sql } from '../domain/ports.ts';
import type { AccessRow, StoredEvent } from '../domain/read-ports.ts';
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

/** Who may read, decided on the store's row. */
export function accessOf(r: AccessRow): Access {
  return { kind: r.kind, member_count: r.member_count, allowed: mayRead(r, r.member), head: r.last_seq };
}

export interface Replay {
  head: number;
  /** Serialized `event` frames, in seq order. */
  events: { seq: number; frame: string }[];
}

/** Frames from the stored payload text: no parse and re-serialize of the event. */
export function replayOf(conversation: string, head: number, stored: readonly StoredEvent[]): Replay {
  const conv = JSON.stringify(conversation);
  const events: Replay['events'] = [];
  for (const e of stored)
    events.push({
      seq: e.seq,
      frame: `{"type":"event","conversation":${conv},"seq":${e.seq},"event":${e.payload}}`,
    });
  return { head, events };
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
