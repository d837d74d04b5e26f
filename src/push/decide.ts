// The push decision for one committed message, made once its delay has passed: per device
// of each recipient who has not read it, push or skip. A thread reply's recipients are the
// thread's participants (its thread entries: the root's author, who replied, who was
// mentioned) by the thread's read marker, never the conversation's other members. A skip is recorded (muted, online)
// so the delivery log answers "why did my phone not ring"; a read message leaves no row.
//
// The decision, its delivery rows, the per-(user, conversation) high-water mark and the
// removal of the pending row commit in one transaction, under an advisory lock per
// conversation, so two dispatchers (or two pending rows of one conversation) never push the
// same seqs twice, and a crash before commit leaves the pending row to be decided again.
import type { ConnectionRegistry } from '../registry/ports.ts';
import type { Db, Row, Sql } from '../store/db.ts';

export interface PendingRow {
  id: string;
  tenant_id: string;
  conversation_id: string;
  seq: number;
  sender_id: string | null;
  mentions: string[];
  /** A thread reply's root (the decision is the thread's); null for a message of the conversation. */
  thread_root: string | null;
  /** Past the full delay: everyone; else only the mentioned (the mention delay passed). */
  full: boolean;
}

export interface Decided {
  pushes: number;
  /** One per device skipped: its platform and why. */
  skips: { platform: string; reason: 'muted' | 'online' | 'delivered' }[];
}

interface Candidate extends Row {
  device_id: string;
  user_id: string;
  platform: string;
  muted: boolean;
  last_read_seq: string;
  last_delivered_seq: string;
  decided_seq: string;
  head: string;
  /** A thread's: the first reply a push covers (else the seq after what was read or decided). */
  first_seq?: string;
}

// Devices of recipients who have not read `seq` (and still have something unread) and for
// whom no decision covers it yet.
// Large channels push only the mentioned (their members have no per-message rows).
const CANDIDATES = `
  SELECT d.id AS device_id, d.user_id, d.platform, e.muted, e.last_read_seq, e.last_delivered_seq, COALESCE(s.decided_seq, 0) AS decided_seq,
         c.last_seq AS head
    FROM push_devices d
    JOIN inbox_entries e ON e.tenant_id = d.tenant_id AND e.user_id = d.user_id AND e.conversation_id = $2
    JOIN conversations c ON c.tenant_id = d.tenant_id AND c.id = $2
    LEFT JOIN push_state s ON s.tenant_id = d.tenant_id AND s.user_id = d.user_id AND s.conversation_id = $2
   WHERE d.tenant_id = $1 AND d.removed_at IS NULL
     AND d.user_id IS DISTINCT FROM $4
     AND e.last_read_seq < $3
     AND COALESCE(s.decided_seq, 0) < $3
     AND ($5::boolean OR d.user_id = ANY($6::text[]))
     AND (c.kind <> 'channel' OR c.member_count <= $7 OR d.user_id = ANY($6::text[]))
     -- Still something unread (a deleted message no longer counts); large channels derive it.
     AND (e.unread_count > 0 OR e.mention_count > 0 OR (c.kind = 'channel' AND c.member_count > $7))
   ORDER BY d.user_id, d.id`;

// The same for a thread reply ($7: its root), over the thread's participants and the thread's
// read marker. Muted and delivered are the conversation's (a muted conversation mutes its
// threads; a delivered seq covers the reply's event); the inbox entry also says the participant
// is still a recipient (one who left has none). Participants are few whatever the channel's
// size, so a large channel's thread pushes its participants like any other.
const THREAD_CANDIDATES = `
  SELECT d.id AS device_id, d.user_id, d.platform, e.muted, t.last_read_seq, e.last_delivered_seq,
         COALESCE(s.decided_seq, 0) AS decided_seq,
         (SELECT max(m.seq) FROM messages m WHERE m.tenant_id = $1 AND m.thread_root = $7) AS head,
         -- The thread's seqs are not contiguous (the conversation's messages interleave): a
         -- push's range starts at the first reply it covers.
         (SELECT min(m.seq) FROM messages m WHERE m.tenant_id = $1 AND m.thread_root = $7
             AND m.seq > GREATEST(t.last_read_seq, s.decided_seq)) AS first_seq
    FROM push_devices d
    JOIN thread_entries t ON t.tenant_id = d.tenant_id AND t.user_id = d.user_id AND t.root_id = $7
    JOIN inbox_entries e ON e.tenant_id = d.tenant_id AND e.user_id = d.user_id AND e.conversation_id = $2
    LEFT JOIN push_thread_state s ON s.tenant_id = d.tenant_id AND s.user_id = d.user_id AND s.root_id = $7
   WHERE d.tenant_id = $1 AND d.removed_at IS NULL
     AND d.user_id IS DISTINCT FROM $4
     AND t.last_read_seq < $3
     AND COALESCE(s.decided_seq, 0) < $3
     AND ($5::boolean OR d.user_id = ANY($6::text[]))
     -- Still something unread in the thread (a deleted reply no longer counts).
     AND t.unread_count > 0
   ORDER BY d.user_id, d.id`;

export async function decide(
  db: Db,
  row: PendingRow,
  opts: { nodeId: string; connections: ConnectionRegistry; largeChannel: number; now: () => number },
): Promise<Decided | null> {
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [
      `push:${row.tenant_id}:${row.conversation_id}`,
    ]);
    // Still ours? (A lease that expired may have been taken over and decided by another node.)
    const { rows: mine } = row.full
      ? await tx.query('DELETE FROM push_pending WHERE id = $1::bigint AND lease_owner = $2 RETURNING id', [
          row.id,
          opts.nodeId,
        ])
      : await tx.query(
          `UPDATE push_pending SET mentions_done = true, lease_owner = NULL, lease_until = NULL
            WHERE id = $1::bigint AND lease_owner = $2 RETURNING id`,
          [row.id, opts.nodeId],
        );
    if (!mine[0]) return null;
    const common = [row.tenant_id, row.conversation_id, row.seq, row.sender_id, row.full, row.mentions];
    const { rows } =
      row.thread_root === null
        ? await tx.query<Candidate>(CANDIDATES, [...common, opts.largeChannel])
        : await tx.query<Candidate>(THREAD_CANDIDATES, [...common, row.thread_root]);
    if (rows.length === 0) return { pushes: 0, skips: [] };
    const users = [...new Set(rows.map((r) => r.user_id))];
    const now = opts.now();
    const online = new Set<string>();
    await Promise.all(
      users.map(async (u) => {
        if ((await opts.connections.ofUser(row.tenant_id, u, now)).length > 0) online.add(u);
      }),
    );
    return record(tx, row, rows, online);
  });
}

async function record(tx: Sql, row: PendingRow, rows: Candidate[], online: Set<string>): Promise<Decided> {
  const out: Decided = { pushes: 0, skips: [] };
  const cols = {
    device: [] as string[],
    user: [] as string[],
    status: [] as string[],
    reason: [] as (string | null)[],
    first: [] as number[],
    last: [] as number[],
  };
  const state = new Map<string, number>();
  for (const r of rows) {
    // Muted first: a muted conversation never rings, online or not. A client of the user that
    // acknowledged the message (a `delivered` frame: it is on a screen of theirs) needs no ring.
    const reason = r.muted
      ? ('muted' as const)
      : online.has(r.user_id)
        ? ('online' as const)
        : Number(r.last_delivered_seq) >= row.seq
          ? ('delivered' as const)
          : null;
    cols.device.push(r.device_id);
    cols.user.push(r.user_id);
    cols.status.push(reason ? 'skipped' : 'pending');
    cols.reason.push(reason);
    if (reason) {
      out.skips.push({ platform: r.platform, reason });
      cols.first.push(row.seq);
      cols.last.push(row.seq);
      state.set(r.user_id, Math.max(state.get(r.user_id) ?? 0, row.seq));
    } else {
      out.pushes++;
      // One push covers everything unread and undecided up to the head (a thread's: its newest
      // reply): the burst coalesces.
      cols.first.push(Number(r.first_seq ?? Math.max(Number(r.last_read_seq), Number(r.decided_seq)) + 1));
      cols.last.push(Number(r.head));
      state.set(r.user_id, Math.max(state.get(r.user_id) ?? 0, Number(r.head)));
    }
  }
  await tx.query(
    `INSERT INTO push_deliveries (tenant_id, device_id, user_id, kind, status, reason, conversation_id,
                                  first_seq, last_seq, finished_at, thread_root)
     SELECT $1, d, u, 'message', st, rs, $2, f, l, CASE WHEN st = 'skipped' THEN now() END, $9
       FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::bigint[]) AS x(d, u, st, rs, f, l)`,
    [
      row.tenant_id,
      row.conversation_id,
      cols.device,
      cols.user,
      cols.status,
      cols.reason,
      cols.first,
      cols.last,
      row.thread_root,
    ],
  );
  const decided = [row.tenant_id, row.conversation_id, [...state.keys()], [...state.values()]];
  if (row.thread_root === null)
    await tx.query(
      `INSERT INTO push_state AS s (tenant_id, user_id, conversation_id, decided_seq)
       SELECT $1, u, $2, q FROM unnest($3::text[], $4::bigint[]) AS x(u, q)
       ON CONFLICT (tenant_id, user_id, conversation_id) DO UPDATE
         SET decided_seq = GREATEST(s.decided_seq, EXCLUDED.decided_seq)`,
      decided,
    );
  else
    await tx.query(
      `INSERT INTO push_thread_state AS s (tenant_id, user_id, conversation_id, decided_seq, root_id)
       SELECT $1, u, $2, q, $5 FROM unnest($3::text[], $4::bigint[]) AS x(u, q)
       ON CONFLICT (tenant_id, user_id, root_id) DO UPDATE
         SET decided_seq = GREATEST(s.decided_seq, EXCLUDED.decided_seq)`,
      [...decided, row.thread_root],
    );
  return out;
}
