// The baseline's tables: what a plain chat app on PostgreSQL starts with.
// Conversations carry their own `last_seq` so every message gets a gap-free
// per-conversation seq (clients order by it and the bench counts holes with
// it — the same contract Herald gives); a global bigserial would order
// messages but could not tell a client that it missed one.
import pg from 'pg';

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS conversations (
  id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  title      text,
  last_seq   bigint NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS members (
  conversation_id uuid NOT NULL REFERENCES conversations (id),
  user_id         text NOT NULL,
  joined_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (conversation_id, user_id)
);
CREATE INDEX IF NOT EXISTS members_by_user ON members (user_id);
CREATE TABLE IF NOT EXISTS messages (
  id              bigserial PRIMARY KEY,
  conversation_id uuid NOT NULL REFERENCES conversations (id),
  seq             bigint NOT NULL,
  sender_id       text NOT NULL,
  body            text NOT NULL,
  client_id       text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  UNIQUE (conversation_id, seq)
);
`;

/** Creates the tables and the rooms (each a list of user ids); returns the room ids in order. */
export async function setupBaseline(databaseUrl: string, rooms: string[][]): Promise<string[]> {
  const c = new pg.Client({ connectionString: databaseUrl });
  await c.connect();
  try {
    await c.query(SCHEMA);
    const ids: string[] = [];
    // One round trip per 500 rooms: provisioning is not what is measured.
    for (let i = 0; i < rooms.length; i += 500) {
      const chunk = rooms.slice(i, i + 500);
      const titles = chunk.map((_, k) => `room ${i + k}`);
      const { rows: made } = await c.query<{ id: string; title: string }>(
        'INSERT INTO conversations (title) SELECT unnest($1::text[]) RETURNING id, title',
        [titles],
      );
      const byTitle = new Map(made.map((r) => [r.title, r.id]));
      const rows = titles.map((t) => ({ id: byTitle.get(t) as string }));
      ids.push(...rows.map((r) => r.id));
      const convs: string[] = [];
      const users: string[] = [];
      chunk.forEach((members, k) => {
        for (const u of members) {
          convs.push(rows[k].id);
          users.push(u);
        }
      });
      await c.query(
        'INSERT INTO members (conversation_id, user_id) SELECT unnest($1::uuid[]), unnest($2::text[])',
        [convs, users],
      );
    }
    return ids;
  } finally {
    await c.end();
  }
}
