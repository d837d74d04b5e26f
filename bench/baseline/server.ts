// The usual design, written plainly: Fastify + `pg` + Socket.IO 4 with
// `@socket.io/redis-adapter`, one Socket.IO room per conversation. The bench
// starts two of these processes on one database and one Redis; a message sent
// over HTTP to either is committed to PostgreSQL, then emitted to the room,
// and the adapter relays it to the sockets on the other process.
//
//   POST /conversations/:id/messages  (x-user-id: sender)  {body, client_id}
//     BEGIN; membership check; UPDATE conversations SET last_seq = last_seq + 1
//     RETURNING last_seq; INSERT INTO messages; COMMIT; io.to(room).emit('message', …)
//   Socket.IO: handshake `auth: {user}`; `join` (conversation, ack) checks
//     membership and joins the room; nothing is replayed on (re)join.
//
// What it leaves out on purpose, as the usual app does: no outbox (a crash
// between COMMIT and emit loses the live event), no resume (a socket that
// drops misses what was emitted meanwhile), no token verification (the user
// id is taken as given — cheaper than Herald's JWT check, which favours the
// baseline). The pool is `pg`'s default size, 10, as an app would leave it.
//
// Env: PORT (0 = any), DATABASE_URL, REDIS_URL, BASELINE_REDIS_KEY (adapter
// channel prefix, unique per run). Reports {type:'listening', port} over IPC.
import { createAdapter } from '@socket.io/redis-adapter';
import Fastify from 'fastify';
import { Redis } from 'ioredis';
import pg from 'pg';
import { Server } from 'socket.io';

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });
// A pooled client whose backend dies emits 'error'; without a listener that kills the process.
pool.on('error', () => {});

const pub = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const sub = pub.duplicate();

const app = Fastify({ logger: false });
const io = new Server(app.server, {
  serveClient: false,
  adapter: createAdapter(pub, sub, { key: process.env.BASELINE_REDIS_KEY ?? 'socket.io' }),
});

const room = (conversation: string) => `c:${conversation}`;

async function isMember(conversation: string, user: string): Promise<boolean> {
  const { rowCount } = await pool.query('SELECT 1 FROM members WHERE conversation_id = $1 AND user_id = $2', [
    conversation,
    user,
  ]);
  return rowCount === 1;
}

io.use((socket, next) => {
  const user = (socket.handshake.auth as { user?: unknown }).user;
  if (typeof user !== 'string' || user === '') return next(new Error('unauthorized'));
  socket.data.user = user;
  next();
});

io.on('connection', (socket) => {
  socket.on('join', async (conversation: unknown, ack: unknown) => {
    const reply = typeof ack === 'function' ? (ack as (r: unknown) => void) : () => {};
    try {
      if (typeof conversation !== 'string' || !(await isMember(conversation, socket.data.user)))
        return reply({ ok: false, error: 'not a member' });
      await socket.join(room(conversation));
      reply({ ok: true });
    } catch {
      reply({ ok: false, error: 'internal' });
    }
  });
});

interface SendBody {
  body: string;
  client_id?: string;
}

app.post<{ Params: { id: string }; Body: SendBody }>('/conversations/:id/messages', async (req, reply) => {
  const user = req.headers['x-user-id'];
  if (typeof user !== 'string') return reply.code(401).send({ error: 'unauthorized' });
  const { body, client_id = null } = req.body ?? ({} as SendBody);
  if (typeof body !== 'string' || body === '') return reply.code(400).send({ error: 'empty body' });
  const conversation = req.params.id;
  const client = await pool.connect();
  let message: Record<string, unknown>;
  try {
    await client.query('BEGIN');
    const member = await client.query('SELECT 1 FROM members WHERE conversation_id = $1 AND user_id = $2', [
      conversation,
      user,
    ]);
    if (member.rowCount !== 1) {
      await client.query('ROLLBACK');
      return reply.code(403).send({ error: 'not a member' });
    }
    const { rows } = await client.query<{ last_seq: string }>(
      'UPDATE conversations SET last_seq = last_seq + 1 WHERE id = $1 RETURNING last_seq',
      [conversation],
    );
    const seq = Number(rows[0].last_seq);
    const ins = await client.query<{ id: string; created_at: Date }>(
      `INSERT INTO messages (conversation_id, seq, sender_id, body, client_id)
       VALUES ($1, $2, $3, $4, $5) RETURNING id, created_at`,
      [conversation, seq, user, body, client_id],
    );
    await client.query('COMMIT');
    message = {
      id: ins.rows[0].id,
      conversation,
      seq,
      sender: user,
      body,
      client_id,
      created_at: ins.rows[0].created_at.toISOString(),
    };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
  io.to(room(conversation)).emit('message', message);
  return reply.code(201).send({ message });
});

app.get('/healthz', async () => ({ ok: true }));

// The same accept backlog as `herald serve` (4,096), so a reconnect storm
// measures the servers rather than the kernel's SYN retries.
const address = await app.listen({ port: Number(process.env.PORT ?? 0), host: '127.0.0.1', backlog: 4096 });
process.send?.({ type: 'listening', port: Number(new URL(address).port) });

process.on('SIGTERM', async () => {
  io.close();
  await app.close();
  await pool.end();
  pub.disconnect();
  sub.disconnect();
  process.exit(0);
});
