// The invariants checked at the end of every run, against the store as the oracle:
//  1. every acknowledged send is committed exactly once (one message per sender + client_id,
//     the acknowledged id, seq and conversation);
//  2. every client holds every committed event once, in order: per conversation the SDK
//     applied seqs 1..n without a hole or a repeat, each the store's event at that seq, and
//     n is the head wherever the user is still a member;
//  3. unread and mention counters equal a recount from the log;
//  4. the relay published every outbox row (nothing is stuck behind a fault).
// The gateway's own promise — no duplicate within one subscription — is checked as frames
// are written (network.ts).
import { TENANT } from './network.ts';
import type { World } from './simulation.ts';

export async function checkInvariants(world: World): Promise<void> {
  const db = world.base;
  const fail = (m: string) => world.fail(m);

  // 1. Acknowledged sends.
  for (const u of world.users) {
    for (const a of u.acked) {
      const { rows } = await db.query<{ id: string; seq: number; conversation_id: string }>(
        'SELECT id, seq, conversation_id FROM messages WHERE tenant_id = $1 AND sender_id = $2 AND client_id = $3',
        [TENANT, u.name, a.client_id],
      );
      if (rows.length !== 1) fail(`ack ${a.client_id} of ${u.name}: ${rows.length} messages committed`);
      else if (
        rows[0].id !== a.message_id ||
        rows[0].seq !== a.seq ||
        rows[0].conversation_id !== a.conversation
      )
        fail(
          `ack ${a.client_id} of ${u.name}: acknowledged ${a.message_id}@${a.seq}, committed ${rows[0].id}@${rows[0].seq}`,
        );
    }
    const ids = new Set(u.acked.map((a) => a.client_id));
    if (ids.size !== u.acked.length) fail(`${u.name}: a send was acknowledged twice`);
  }

  // 2. What each client holds.
  const { rows: events } = await db.query<{
    conversation_id: string;
    seq: number;
    type: string;
    message_id: string;
  }>(
    'SELECT conversation_id, seq, type, message_id FROM events WHERE tenant_id = $1 ORDER BY conversation_id, seq',
    [TENANT],
  );
  const log = new Map<string, string[]>();
  for (const e of events) {
    const list = log.get(e.conversation_id) ?? [];
    list[e.seq - 1] = `${e.type}:${e.message_id}`;
    log.set(e.conversation_id, list);
  }
  const { rows: members } = await db.query<{ conversation_id: string; user_id: string }>(
    'SELECT conversation_id, user_id FROM members WHERE tenant_id = $1',
    [TENANT],
  );
  const isMember = new Set(members.map((m) => `${m.conversation_id}\0${m.user_id}`));
  for (const u of world.users) {
    if (u.client.state !== 'connected') fail(`${u.name}: client ${u.client.state} at the end`);
    for (const c of world.conversations) {
      const held = u.applied.get(c.id) ?? [];
      const want = log.get(c.id) ?? [];
      const tag = `${u.name} in ${c.kind} ${c.id.slice(0, 8)}`;
      let expect = 1;
      for (const h of held) {
        if (h.seq !== expect) {
          fail(
            `${tag}: applied seq ${h.seq} where ${expect} was due (held ${held.map((x) => x.seq).join(',')})`,
          );
          break;
        }
        if (want[h.seq - 1] !== h.key) {
          fail(`${tag}: seq ${h.seq} applied as ${h.key}, the log has ${want[h.seq - 1]}`);
          break;
        }
        expect++;
      }
      if (isMember.has(`${c.id}\0${u.name}`)) {
        const sub = u.client.subscription(c.id);
        if (sub?.status !== 'subscribed') fail(`${tag}: member, but subscription ${sub?.status ?? 'absent'}`);
        if (held.length !== want.length)
          fail(`${tag}: holds ${held.length} of ${want.length} events (last ${held.at(-1)?.seq ?? 0})`);
      }
    }
  }

  // 3. Counters against a recount from the log (markRead's definition).
  const { rows: drift } = await db.query<{
    user_id: string;
    conversation_id: string;
    unread_count: number;
    mention_count: number;
    unread: number;
    mentions: number;
  }>(
    `SELECT * FROM (
       SELECT e.user_id, e.conversation_id, e.unread_count, e.mention_count,
              (SELECT count(*)::int FROM messages m WHERE m.tenant_id = e.tenant_id
                  AND m.conversation_id = e.conversation_id AND m.seq > e.last_read_seq
                  AND m.kind <> 'system' AND m.deleted_at IS NULL
                  AND m.sender_id IS DISTINCT FROM e.user_id) AS unread,
              (SELECT count(*)::int FROM messages m WHERE m.tenant_id = e.tenant_id
                  AND m.conversation_id = e.conversation_id AND m.seq > e.last_read_seq
                  AND e.user_id = ANY(m.mentions) AND m.deleted_at IS NULL) AS mentions
         FROM inbox_entries e WHERE e.tenant_id = $1) x
      WHERE unread_count <> unread OR mention_count <> mentions`,
    [TENANT],
  );
  for (const d of drift)
    fail(
      `counters of ${d.user_id} in ${d.conversation_id.slice(0, 8)}: unread ${d.unread_count} (recount ${d.unread}), mentions ${d.mention_count} (recount ${d.mentions})`,
    );

  // 4. Relay liveness.
  const { rows: stuck } = await db.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM outbox WHERE published_at IS NULL',
  );
  if (stuck[0].n > 0) fail(`${stuck[0].n} outbox rows never published`);
}
