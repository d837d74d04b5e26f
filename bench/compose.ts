// Durable sends per second: Herald's compose path (one transaction: seq,
// message, event, bulk inbox fan-out, outbox) against the usual design's write
// (insert the message, then one INSERT/UPDATE per recipient in a loop), side by
// side on the same PostgreSQL server, same schema, same group sizes.
import { randomUUID } from 'node:crypto';
import { execute } from '../src/domain/commands.ts';
import { createConversation } from '../src/domain/conversations.ts';
import { defaultLimits } from '../src/domain/limits.ts';
import { nobodyViewing } from '../src/domain/ports.ts';
import type { Db } from '../src/store/db.ts';
import { pgStore } from '../src/store/pg/index.ts';
import { seedTenant } from '../test/support/fixtures.ts';

export interface ComposeResult {
  members: number;
  sends: number;
  herald_per_s: number;
  naive_per_s: number;
  ratio: number;
  herald_p99_ms: number;
  naive_p99_ms: number;
}

async function timed(concurrency: number, total: number, one: (i: number) => Promise<void>) {
  const lat: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (;;) {
        const i = next++;
        if (i >= total) return;
        const s = performance.now();
        await one(i);
        lat.push(performance.now() - s);
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  return { perS: total / secs, p99: lat[Math.floor(lat.length * 0.99)] ?? 0 };
}

/** The usual write: message row, then a statement per recipient. */
async function naiveSend(
  db: Db,
  tenant: string,
  conv: string,
  sender: string,
  members: string[],
  body: string,
) {
  await db.transaction(async (tx) => {
    const { rows } = await tx.query<{ last_seq: number }>(
      'UPDATE conversations SET last_seq = last_seq + 1 WHERE tenant_id = $1 AND id = $2 RETURNING last_seq',
      [tenant, conv],
    );
    await tx.query(
      `INSERT INTO messages (tenant_id, id, conversation_id, seq, kind, sender_id, body) VALUES ($1, $2, $3, $4, 'group', $5, $6)`,
      [tenant, randomUUID(), conv, rows[0].last_seq, sender, body],
    );
    for (const m of members) {
      if (m === sender) continue;
      await tx.query(
        `UPDATE inbox_entries SET unread_count = unread_count + 1, last_activity_at = now(), version = nextval('inbox_version')
          WHERE tenant_id = $1 AND user_id = $2 AND conversation_id = $3`,
        [tenant, m, conv],
      );
    }
  });
}

export async function benchCompose(
  db: Db,
  members: number,
  sends: number,
  concurrency = 16,
): Promise<ComposeResult> {
  const deps = {
    db,
    ...pgStore,
    limits: defaultLimits,
    viewing: nobodyViewing,
  };
  const users = Array.from({ length: members }, (_, i) => `u${i}`);
  const tenant = await seedTenant(db, users);
  const actor = { type: 'user', user_id: users[0] } as const;
  // Several conversations so concurrent sends are not all serialized on one row lock.
  const convs: string[] = [];
  for (let c = 0; c < concurrency; c++) {
    convs.push(
      (await createConversation(deps, tenant, actor, { kind: 'group', title: `g${c}`, members: users })).id,
    );
  }
  const herald = await timed(concurrency, sends, async (i) => {
    await execute(deps, tenant, {
      kind: 'GroupMessage',
      sender: users[i % members],
      conversation: convs[i % concurrency],
      input: { body: `message ${i}`, client_id: `h${i}` },
    });
  });
  const naive = await timed(concurrency, sends, async (i) => {
    await naiveSend(db, tenant, convs[i % concurrency], users[i % members], users, `message ${i}`);
  });
  return {
    members,
    sends,
    herald_per_s: Math.round(herald.perS),
    naive_per_s: Math.round(naive.perS),
    ratio: Number((herald.perS / naive.perS).toFixed(2)),
    herald_p99_ms: Number(herald.p99.toFixed(1)),
    naive_p99_ms: Number(naive.p99.toFixed(1)),
  };
}
